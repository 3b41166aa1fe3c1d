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
    /// <summary>ResNet-50.</summary>
    ResNet50,
}
