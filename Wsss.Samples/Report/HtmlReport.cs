using System.Globalization;
using System.Net;
using System.Text;
using Wsss.Evaluation;
using Wsss.Imaging;

namespace Wsss.Samples.Report;

/// <summary>
/// A self-contained HTML page (no external files: pictures are base64 PNG data URIs, charts inline SVG),
/// built section by section.
/// </summary>
internal sealed class HtmlReport
{
    private readonly StringBuilder body = new();
    private readonly string title;

    public HtmlReport(string title)
    {
        this.title = title;
    }

    public void Heading(string text, int level = 2) => body.Append(CultureInfo.InvariantCulture, $"<h{level}>{Esc(text)}</h{level}>\n");

    public void Paragraph(string text) => body.Append(CultureInfo.InvariantCulture, $"<p>{Esc(text)}</p>\n");

    /// <summary>A table of name/value rows.</summary>
    public void KeyValues(IEnumerable<(string Key, string Value)> rows)
    {
        body.Append("<table class=\"kv\">\n");
        foreach (var (k, v) in rows)
        {
            body.Append(CultureInfo.InvariantCulture, $"<tr><th>{Esc(k)}</th><td>{Esc(v)}</td></tr>\n");
        }

        body.Append("</table>\n");
    }

    /// <summary>A table with a header row.</summary>
    public void Table(IReadOnlyList<string> header, IEnumerable<IReadOnlyList<string>> rows, string? cssClass = null)
    {
        body.Append(CultureInfo.InvariantCulture, $"<table{(cssClass is null ? string.Empty : $" class=\"{cssClass}\"")}>\n<tr>");
        foreach (string h in header)
        {
            body.Append(CultureInfo.InvariantCulture, $"<th>{Esc(h)}</th>");
        }

        body.Append("</tr>\n");
        foreach (var row in rows)
        {
            body.Append("<tr>");
            foreach (string cell in row)
            {
                body.Append(CultureInfo.InvariantCulture, $"<td>{Esc(cell)}</td>");
            }

            body.Append("</tr>\n");
        }

        body.Append("</table>\n");
    }

    /// <summary>Per-class IoU columns for several evaluations of the same classes (NaN shown as "-").</summary>
    public void IoUTable(IReadOnlyList<string> labelNames, IReadOnlyList<(string Name, ConfusionMatrix Matrix)> evaluations)
    {
        var header = new List<string> { "class" };
        header.AddRange(evaluations.Select(e => e.Name + " IoU %"));
        var rows = new List<IReadOnlyList<string>>();
        for (int c = 0; c < labelNames.Count; c++)
        {
            var row = new List<string> { labelNames[c] };
            row.AddRange(evaluations.Select(e => Percent(e.Matrix.IoU(c))));
            rows.Add(row);
        }

        var mean = new List<string> { "mIoU" };
        mean.AddRange(evaluations.Select(e => Percent(e.Matrix.MeanIoU)));
        rows.Add(mean);
        var accuracy = new List<string> { "pixel accuracy" };
        accuracy.AddRange(evaluations.Select(e => Percent(e.Matrix.PixelAccuracy)));
        rows.Add(accuracy);
        Table(header, rows, "iou");
    }

    /// <summary>A grid of pictures: one row per sample, one column per kind of picture.</summary>
    public void PictureGrid(IReadOnlyList<string> columns, IEnumerable<(string Caption, IReadOnlyList<RgbImage> Pictures)> rows)
    {
        body.Append("<table class=\"pictures\">\n<tr><th></th>");
        foreach (string c in columns)
        {
            body.Append(CultureInfo.InvariantCulture, $"<th>{Esc(c)}</th>");
        }

        body.Append("</tr>\n");
        foreach (var (caption, pictures) in rows)
        {
            body.Append(CultureInfo.InvariantCulture, $"<tr><th>{Esc(caption)}</th>");
            foreach (var picture in pictures)
            {
                string data = Convert.ToBase64String(ImageCodec.EncodePng(picture));
                body.Append(CultureInfo.InvariantCulture, $"<td><img src=\"data:image/png;base64,{data}\" width=\"{picture.Width * 2}\" height=\"{picture.Height * 2}\" alt=\"\"></td>");
            }

            body.Append("</tr>\n");
        }

        body.Append("</table>\n");
    }

    /// <summary>Small line charts (one per series) of values against iterations, with a moving average over the raw values.</summary>
    public void LineCharts(IReadOnlyList<int> x, IReadOnlyList<(string Name, IReadOnlyList<double> Values, string Color)> series)
    {
        body.Append("<div class=\"charts\">\n");
        foreach (var (name, values, color) in series)
        {
            body.Append(Chart(name, x, values, color));
        }

        body.Append("</div>\n");
    }

    public void Raw(string html) => body.Append(html);

    public string Build() =>
        $$"""
        <!DOCTYPE html>
        <html lang="en"><head><meta charset="utf-8"><title>{{Esc(title)}}</title>
        <style>
        body { font-family: system-ui, sans-serif; margin: 2em; color: #222; max-width: 1200px; }
        table { border-collapse: collapse; margin: 0.5em 0 1.5em; }
        th, td { border: 1px solid #ccc; padding: 3px 8px; text-align: left; font-size: 0.9em; }
        table.iou td, table.kv td { font-variant-numeric: tabular-nums; }
        table.pictures td { padding: 2px; border: none; }
        table.pictures th { border: none; }
        img { image-rendering: pixelated; display: block; }
        .charts { display: flex; flex-wrap: wrap; gap: 1em; }
        .legend { font-size: 0.85em; color: #555; }
        </style></head>
        <body>
        <h1>{{Esc(title)}}</h1>
        {{body}}
        </body></html>
        """;

    public static string Percent(double v) => double.IsNaN(v) ? "-" : (v * 100).ToString("F2", CultureInfo.InvariantCulture);

    private static string Esc(string text) => WebUtility.HtmlEncode(text);

    private static string Chart(string name, IReadOnlyList<int> x, IReadOnlyList<double> y, string color)
    {
        const int W = 520, H = 220, L = 55, R = 10, T = 24, B = 30;
        var sb = new StringBuilder();
        sb.Append(CultureInfo.InvariantCulture, $"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{W}\" height=\"{H}\" viewBox=\"0 0 {W} {H}\" role=\"img\" aria-label=\"{Esc(name)}\">");
        sb.Append(CultureInfo.InvariantCulture, $"<text x=\"{L}\" y=\"16\" font-size=\"13\" font-weight=\"bold\">{Esc(name)}</text>");
        var points = Enumerable.Range(0, Math.Min(x.Count, y.Count)).Where(i => double.IsFinite(y[i])).ToArray();
        if (points.Length < 2)
        {
            sb.Append(CultureInfo.InvariantCulture, $"<text x=\"{L}\" y=\"{H / 2}\" font-size=\"12\">not enough points</text></svg>");
            return sb.ToString();
        }

        double x0 = x[points[0]], x1 = x[points[^1]];
        double yMin = Math.Min(0, points.Min(i => y[i])), yMax = points.Max(i => y[i]);
        if (yMax <= yMin)
        {
            yMax = yMin + 1;
        }

        double Px(double v) => L + ((v - x0) / Math.Max(1e-9, x1 - x0) * (W - L - R));
        double Py(double v) => T + ((1 - ((v - yMin) / (yMax - yMin))) * (H - T - B));
        string S(double v) => v.ToString("F1", CultureInfo.InvariantCulture);

        // Axes with three y ticks and the x range.
        sb.Append(CultureInfo.InvariantCulture, $"<line x1=\"{L}\" y1=\"{T}\" x2=\"{L}\" y2=\"{H - B}\" stroke=\"#888\"/><line x1=\"{L}\" y1=\"{H - B}\" x2=\"{W - R}\" y2=\"{H - B}\" stroke=\"#888\"/>");
        foreach (double f in new[] { 0.0, 0.5, 1.0 })
        {
            double v = yMin + (f * (yMax - yMin));
            sb.Append(CultureInfo.InvariantCulture, $"<line x1=\"{L - 4}\" y1=\"{S(Py(v))}\" x2=\"{W - R}\" y2=\"{S(Py(v))}\" stroke=\"#eee\"/><text x=\"{L - 6}\" y=\"{S(Py(v) + 4)}\" font-size=\"10\" text-anchor=\"end\">{v.ToString("G3", CultureInfo.InvariantCulture)}</text>");
        }

        sb.Append(CultureInfo.InvariantCulture, $"<text x=\"{L}\" y=\"{H - 10}\" font-size=\"10\">{x0}</text><text x=\"{W - R}\" y=\"{H - 10}\" font-size=\"10\" text-anchor=\"end\">iteration {x1}</text>");

        // At most ~500 drawn points per line keeps the page small for long runs.
        int stride = Math.Max(1, points.Length / 500);
        sb.Append(CultureInfo.InvariantCulture, $"<polyline fill=\"none\" stroke=\"{color}\" stroke-opacity=\"0.25\" stroke-width=\"1\" points=\"");
        for (int j = 0; j < points.Length; j += stride)
        {
            sb.Append(CultureInfo.InvariantCulture, $"{S(Px(x[points[j]]))},{S(Py(y[points[j]]))} ");
        }

        sb.Append("\"/>");
        int window = Math.Max(1, points.Length / 40);
        sb.Append(CultureInfo.InvariantCulture, $"<polyline fill=\"none\" stroke=\"{color}\" stroke-width=\"2\" points=\"");
        double sum = 0;
        var queue = new Queue<double>();
        for (int j = 0; j < points.Length; j++)
        {
            double v = y[points[j]];
            queue.Enqueue(v);
            sum += v;
            if (queue.Count > window)
            {
                sum -= queue.Dequeue();
            }

            if (j % stride == 0 || j == points.Length - 1)
            {
                sb.Append(CultureInfo.InvariantCulture, $"{S(Px(x[points[j]]))},{S(Py(sum / queue.Count))} ");
            }
        }

        sb.Append("\"/></svg>\n");
        return sb.ToString();
    }
}
