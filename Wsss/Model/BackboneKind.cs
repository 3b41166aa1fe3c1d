namespace Wsss.Model;

/// <summary>The feature extractor a model was built on (stored by name in model files).</summary>
public enum BackboneKind
{
    /// <summary>A small randomly initialised CNN, for tests and quick experiments.</summary>
    SmallCnn,
    /// <summary>MobileNet v1 (ImageNet-pretrained, width multiplier as stored).</summary>
    MobileNetV1,
    /// <summary>Wide ResNet-38, the backbone of the RRM paper.</summary>
    ResNet38,
    /// <summary>ResNet-50 (torchvision's layout).</summary>
    ResNet50,
    /// <summary>ResNet-18 (torchvision's layout; ImageNet weights from ML.NET's ResNet-18 ONNX package or a torchvision checkpoint).</summary>
    ResNet18,
    /// <summary>ResNet-101 (torchvision's layout).</summary>
    ResNet101,
}
