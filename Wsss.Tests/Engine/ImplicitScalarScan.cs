using System.Collections.Immutable;
using System.Reflection.Emit;
using System.Reflection.Metadata;
using System.Reflection.Metadata.Ecma335;
using System.Reflection.PortableExecutable;

namespace Wsss.Tests.Engine;

/// <summary>
/// Finds, from the IL of compiled assemblies, the calls that make TorchSharp <c>Scalar</c>s nobody keeps alive: a
/// direct <c>Scalar.op_Implicit</c> (<c>t * 0.5</c> compiles to one when the overload takes a Scalar), and any call
/// of a TorchSharp method that makes one itself, directly or through other TorchSharp methods (<c>Tensor + Tensor</c>
/// passes an implicit alpha of 1, <c>optim.SGD.step</c> its decay and rate). TorchSharp 0.107 reads such a
/// Scalar's handle and lets the object go, so a collection during the native call frees the value libtorch reads.
/// Explicit <c>ToScalar()</c> calls are not reported: the code that makes them owns them (a <c>using</c> local).
/// Virtual calls are resolved by their declared target only; TorchSharp modules whose <c>forward</c> makes Scalars
/// (e.g. its BatchNorm, LeakyReLU, Softplus) are listed by <see cref="HazardousTorchSharpMethods"/> for a reviewer.
/// </summary>
internal sealed class ImplicitScalarScan
{
    private static readonly Dictionary<short, OpCode> OpCodesByValue = typeof(OpCodes).GetFields()
        .Select(f => (OpCode)f.GetValue(null)!)
        .ToDictionary(o => o.Value);

    private ImplicitScalarScan(HashSet<string> hazardous) => HazardousTorchSharpMethods = hazardous;

    /// <summary>TorchSharp methods ("Type::name(parameter types)") that make a Scalar they do not keep alive.</summary>
    public IReadOnlySet<string> HazardousTorchSharpMethods { get; }

    public static ImplicitScalarScan OfTorchSharp(string torchSharpPath)
    {
        using var stream = File.OpenRead(torchSharpPath);
        using var pe = new PEReader(stream);
        MetadataReader md = pe.GetMetadataReader();
        MethodDefinitionHandle[] methods = md.MethodDefinitions.ToArray();
        var index = methods.Select((h, i) => (h, i)).ToDictionary(p => p.h, p => p.i);
        var names = methods.Select(h => DefinitionName(md, h)).ToArray();
        var hazard = new bool[methods.Length];
        var callees = new List<int>[methods.Length];
        for (int i = 0; i < methods.Length; i++)
        {
            callees[i] = [];
            foreach (EntityHandle target in CallTargets(md, pe, methods[i]))
            {
                if (target.Kind != HandleKind.MethodDefinition)
                {
                    continue;
                }

                int callee = index[(MethodDefinitionHandle)target];
                if (MakesScalar(names[callee]))
                {
                    hazard[i] = true;
                }
                else
                {
                    callees[i].Add(callee);
                }
            }
        }

        for (bool changed = true; changed;)
        {
            changed = false;
            for (int i = 0; i < methods.Length; i++)
            {
                if (!hazard[i] && callees[i].Exists(c => hazard[c]))
                {
                    hazard[i] = changed = true;
                }
            }
        }

        return new ImplicitScalarScan(names.Where((_, i) => hazard[i] && !MakesScalar(names[i])).ToHashSet(StringComparer.Ordinal));
    }

    /// <summary>"Caller -> callee" for each call in <paramref name="assemblyPath"/> that makes an unowned Scalar.</summary>
    public IReadOnlyList<string> Find(string assemblyPath)
    {
        using var stream = File.OpenRead(assemblyPath);
        using var pe = new PEReader(stream);
        MetadataReader md = pe.GetMetadataReader();
        var found = new List<string>();
        foreach (MethodDefinitionHandle method in md.MethodDefinitions)
        {
            foreach (EntityHandle target in CallTargets(md, pe, method))
            {
                if (target.Kind != HandleKind.MemberReference)
                {
                    continue;
                }

                string? name = ReferenceName(md, (MemberReferenceHandle)target);
                if (name is not null && (name.StartsWith("Scalar::op_Implicit(", StringComparison.Ordinal) || HazardousTorchSharpMethods.Contains(name)))
                {
                    found.Add($"{DefinitionName(md, method)} -> {name}");
                }
            }
        }

        return found;
    }

    private static bool MakesScalar(string name) => name.StartsWith("Scalar::op_Implicit(", StringComparison.Ordinal);

    private static IEnumerable<EntityHandle> CallTargets(MetadataReader md, PEReader pe, MethodDefinitionHandle handle)
    {
        MethodDefinition method = md.GetMethodDefinition(handle);
        if (method.RelativeVirtualAddress == 0)
        {
            yield break;
        }

        BlobReader il = pe.GetMethodBody(method.RelativeVirtualAddress).GetILReader();
        while (il.RemainingBytes > 0)
        {
            short value = il.ReadByte();
            if (value == 0xFE)
            {
                value = unchecked((short)(0xFE00 | il.ReadByte()));
            }

            OpCode op = OpCodesByValue[value];
            switch (op.OperandType)
            {
                case OperandType.InlineNone:
                    break;
                case OperandType.ShortInlineBrTarget or OperandType.ShortInlineI or OperandType.ShortInlineVar:
                    il.ReadByte();
                    break;
                case OperandType.InlineVar:
                    il.ReadInt16();
                    break;
                case OperandType.InlineI8 or OperandType.InlineR:
                    il.ReadInt64();
                    break;
                case OperandType.InlineSwitch:
                    int count = il.ReadInt32();
                    il.Offset += count * 4;
                    break;
                case OperandType.InlineMethod:
                    EntityHandle target = MetadataTokens.EntityHandle(il.ReadInt32());
                    if (target.Kind == HandleKind.MethodSpecification)
                    {
                        target = md.GetMethodSpecification((MethodSpecificationHandle)target).Method;
                    }

                    yield return target;
                    break;
                default:
                    il.ReadInt32();
                    break;
            }
        }
    }

    private static string DefinitionName(MetadataReader md, MethodDefinitionHandle handle)
    {
        MethodDefinition method = md.GetMethodDefinition(handle);
        return $"{TypeName(md, method.GetDeclaringType())}::{md.GetString(method.Name)}{Parameters(md, method.Signature)}";
    }

    private static string TypeName(MetadataReader md, TypeDefinitionHandle handle)
    {
        TypeDefinition type = md.GetTypeDefinition(handle);
        TypeDefinitionHandle outer = type.GetDeclaringType();
        return outer.IsNil ? md.GetString(type.Name) : $"{TypeName(md, outer)}/{md.GetString(type.Name)}";
    }

    private static string? ReferenceName(MetadataReader md, MemberReferenceHandle handle)
    {
        MemberReference member = md.GetMemberReference(handle);
        if (member.GetKind() != MemberReferenceKind.Method || member.Parent.Kind != HandleKind.TypeReference)
        {
            return null;
        }

        return $"{TypeName(md, (TypeReferenceHandle)member.Parent)}::{md.GetString(member.Name)}{Parameters(md, member.Signature)}";
    }

    private static string TypeName(MetadataReader md, TypeReferenceHandle handle)
    {
        TypeReference type = md.GetTypeReference(handle);
        return type.ResolutionScope.Kind == HandleKind.TypeReference
            ? $"{TypeName(md, (TypeReferenceHandle)type.ResolutionScope)}/{md.GetString(type.Name)}"
            : md.GetString(type.Name);
    }

    private static string Parameters(MetadataReader md, BlobHandle signature)
    {
        BlobReader reader = md.GetBlobReader(signature);
        MethodSignature<string> decoded = new SignatureDecoder<string, object?>(new TypeNames(), md, null).DecodeMethodSignature(ref reader);
        return "(" + string.Join(",", decoded.ParameterTypes) + ")";
    }

    /// <summary>Type names without namespaces, the same from a definition and from a reference.</summary>
    private sealed class TypeNames : ISignatureTypeProvider<string, object?>
    {
        public string GetArrayType(string elementType, ArrayShape shape) => elementType + "[,]";

        public string GetByReferenceType(string elementType) => elementType + "&";

        public string GetFunctionPointerType(MethodSignature<string> signature) => "fnptr";

        public string GetGenericInstantiation(string genericType, ImmutableArray<string> typeArguments) => $"{genericType}<{string.Join(",", typeArguments)}>";

        public string GetGenericMethodParameter(object? genericContext, int index) => "!!" + index;

        public string GetGenericTypeParameter(object? genericContext, int index) => "!" + index;

        public string GetModifiedType(string modifier, string unmodifiedType, bool isRequired) => unmodifiedType;

        public string GetPinnedType(string elementType) => elementType;

        public string GetPointerType(string elementType) => elementType + "*";

        public string GetPrimitiveType(PrimitiveTypeCode typeCode) => typeCode.ToString();

        public string GetSZArrayType(string elementType) => elementType + "[]";

        public string GetTypeFromDefinition(MetadataReader reader, TypeDefinitionHandle handle, byte rawTypeKind) => reader.GetString(reader.GetTypeDefinition(handle).Name);

        public string GetTypeFromReference(MetadataReader reader, TypeReferenceHandle handle, byte rawTypeKind) => reader.GetString(reader.GetTypeReference(handle).Name);

        public string GetTypeFromSpecification(MetadataReader reader, object? genericContext, TypeSpecificationHandle handle, byte rawTypeKind) => "spec";
    }
}
