namespace Wsss.Seeds;

/// <summary>
/// Seeds from the CAMs alone, without the two dense CRFs: the ablation of RRM's reliable regions. A pixel
/// is labelled with its CAM label (argmax over [(1 - max cam)^power, cams]) where that label is sure by the
/// same rules as <see cref="ReliableSeeds"/> (top share of a class's CAM values above the floor; background
/// score above the threshold), and 255 elsewhere.
/// </summary>
public static class CamSeeds
{
    /// <summary>Seeds of one image from its C x H x W normalised CAMs and its multi-hot label.</summary>
    public static byte[] Compute(ReadOnlySpan<float> cams, ReadOnlySpan<byte> labels, int height, int width, ReliableSeedOptions? options = null)
    {
        options ??= new ReliableSeedOptions();
        int classes = labels.Length, plane = height * width;
        if (cams.Length != (long)classes * plane)
        {
            throw new ArgumentException($"{cams.Length} CAM values do not make {classes} x {height} x {width}.", nameof(cams));
        }

        var result = new byte[plane];
        var camLabel = new byte[plane];
        var bg = new float[plane];
        for (int i = 0; i < plane; i++)
        {
            float max = 0;
            int arg = 0;
            for (int c = 0; c < classes; c++)
            {
                if (labels[c] != 0 && cams[(c * plane) + i] > max)
                {
                    max = cams[(c * plane) + i];
                    arg = c + 1;
                }
            }

            bg[i] = MathF.Pow(1 - max, options.HighBackgroundPower);
            camLabel[i] = (byte)(bg[i] >= max ? 0 : arg);
            result[i] = ReliableSeeds.Ignore;
            if (camLabel[i] == 0 && bg[i] > options.BackgroundCamThreshold)
            {
                result[i] = 0;
            }
        }

        var values = new List<float>();
        for (int c = 0; c < classes; c++)
        {
            if (labels[c] == 0)
            {
                continue;
            }

            values.Clear();
            for (int i = 0; i < plane; i++)
            {
                float v = cams[(c * plane) + i];
                if (camLabel[i] == c + 1 && v > options.CamFloor)
                {
                    values.Add(v);
                }
            }

            if (values.Count == 0)
            {
                continue;
            }

            values.Sort();
            float threshold = values[(int)Math.Floor(options.CamPercentile * values.Count)];
            for (int i = 0; i < plane; i++)
            {
                if (camLabel[i] == c + 1 && cams[(c * plane) + i] > threshold)
                {
                    result[i] = (byte)(c + 1);
                }
            }
        }

        return result;
    }
}
