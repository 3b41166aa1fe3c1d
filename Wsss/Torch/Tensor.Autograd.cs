using Wsss.Interop;

namespace Wsss.Torch;

public sealed partial class Tensor
{
    /// <summary>Whether autograd records operations on this tensor (set on leaves: parameters, inputs of gradient checks).</summary>
    public bool RequiresGrad
    {
        get
        {
            NativeMethods.Check(NativeMethods.wsss_tensor_info(Handle, out _, out _, out _, out _, out int rg));
            return rg != 0;
        }

        set => NativeMethods.Check(NativeMethods.wsss_set_requires_grad(Handle, value ? 1 : 0));
    }

    /// <summary>
    /// The accumulated gradient, or null before any backward pass reached this tensor. The returned tensor
    /// shares storage with the gradient and is owned by the caller (or the current dispose scope).
    /// </summary>
    public Tensor? Grad
    {
        get
        {
            NativeMethods.Check(NativeMethods.wsss_grad(Handle, out nint r));
            return r == 0 ? null : new Tensor(r);
        }
    }

    /// <summary>Drops the accumulated gradient (like PyTorch's zero_grad(set_to_none=True)).</summary>
    public void ZeroGrad() => NativeMethods.Check(NativeMethods.wsss_zero_grad(Handle));

    /// <summary>Back-propagates from this scalar (or with an explicit upstream <paramref name="gradient"/>).</summary>
    public void Backward(Tensor? gradient = null, bool retainGraph = false)
    {
        bool added = false;
        try
        {
            nint g = 0;
            if (gradient is not null)
            {
                gradient.Handle.DangerousAddRef(ref added);
                g = gradient.Handle.DangerousGetHandle();
            }

            NativeMethods.Check(NativeMethods.wsss_backward(Handle, g, retainGraph ? 1 : 0));
        }
        finally
        {
            if (added)
            {
                gradient!.Handle.DangerousRelease();
            }
        }
    }

    /// <summary>The same data cut off from the autograd graph.</summary>
    public Tensor Detach() => Wrap(NativeMethods.wsss_detach(Handle, out nint r), r);
}
