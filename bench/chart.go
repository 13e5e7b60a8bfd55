package main

import (
	"fmt"
	"image/color"
	"math"
	"os"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

var (
	colTracking = color.RGBA{R: 0x1f, G: 0x77, B: 0xb4, A: 0xff}
	colScan     = color.RGBA{R: 0xd6, G: 0x27, B: 0x28, A: 0xff}
	colFull     = color.RGBA{R: 0x7f, G: 0x7f, B: 0x7f, A: 0xff}
	colChanged  = color.RGBA{R: 0x2c, G: 0xa0, B: 0x2c, A: 0xff}
)

// writeChart draws incremental time and bytes read against the fraction of pages changed.
func writeChart(res *Results, path string) error {
	if len(res.Rounds) == 0 {
		return fmt.Errorf("no incremental rounds to chart")
	}
	total := res.Dataset.Pages
	xs := make([]float64, len(res.Rounds))
	for i, r := range res.Rounds {
		xs[i] = math.Max(r.Fraction(total)*100, 1e-3)
	}
	series := func(f func(r Round) float64) plotter.XYs {
		pts := make(plotter.XYs, len(res.Rounds))
		for i, r := range res.Rounds {
			pts[i].X, pts[i].Y = xs[i], math.Max(f(r), 1e-3)
		}
		return pts
	}
	xTicks := fractionTicks(xs)

	timeP := plot.New()
	timeP.Title.Text = fmt.Sprintf("Incremental backup wall time (%s of InnoDB data, cold cache)", human(uint64(res.Dataset.Bytes)))
	timeP.X.Label.Text = "pages changed since the base (% of all pages)"
	timeP.Y.Label.Text = "seconds"
	if err := addLines(timeP, []line{
		{"page tracking", series(func(r Round) float64 { return r.Tracking.Wall.Seconds() }), colTracking, nil},
		{"new full backup", series(func(r Round) float64 { return r.NewFull.Wall.Seconds() }), colFull, nil},
		{"page-LSN scan", series(func(r Round) float64 { return r.Scan.Wall.Seconds() }), colScan, nil},
	}); err != nil {
		return err
	}
	logAxes(timeP, xTicks)

	bytesP := plot.New()
	bytesP.Title.Text = "Bytes the plugin process read from disk (/proc/<pid>/io read_bytes)"
	bytesP.X.Label.Text = "pages changed since the base (% of all pages)"
	bytesP.Y.Label.Text = "MB"
	if err := addLines(bytesP, []line{
		{"page tracking", series(func(r Round) float64 { return float64(r.Tracking.PhysRead) / 1e6 }), colTracking, nil},
		{"new full backup", series(func(r Round) float64 { return float64(r.NewFull.PhysRead) / 1e6 }), colFull, nil},
		{"page-LSN scan (reads as much as a full)", series(func(r Round) float64 { return float64(r.Scan.PhysRead) / 1e6 }), colScan,
			[]vg.Length{vg.Points(6), vg.Points(4)}},
		{"changed pages × 16 KiB", series(func(r Round) float64 { return float64(r.Tracking.PagesInSet) * 16384 / 1e6 }), colChanged,
			[]vg.Length{vg.Points(4), vg.Points(3)}},
	}); err != nil {
		return err
	}
	logAxes(bytesP, xTicks)

	const w, h = 15 * vg.Inch, 6 * vg.Inch
	img := vgimg.NewWith(vgimg.UseWH(w, h), vgimg.UseDPI(96), vgimg.UseBackgroundColor(color.White))
	dc := draw.New(img)
	tiles := draw.Tiles{Rows: 1, Cols: 2, PadX: vg.Inch / 3, PadTop: vg.Inch / 8, PadBottom: vg.Inch / 8, PadLeft: vg.Inch / 8, PadRight: vg.Inch / 6}
	plots := [][]*plot.Plot{{timeP, bytesP}}
	canvases := plot.Align(plots, tiles, dc)
	timeP.Draw(canvases[0][0])
	bytesP.Draw(canvases[0][1])

	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := (vgimg.PngCanvas{Canvas: img}).WriteTo(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

type line struct {
	name   string
	pts    plotter.XYs
	col    color.Color
	dashes []vg.Length
}

func addLines(p *plot.Plot, lines []line) error {
	for _, l := range lines {
		ln, sc, err := plotter.NewLinePoints(l.pts)
		if err != nil {
			return err
		}
		ln.Color, ln.Width, ln.Dashes = l.col, vg.Points(2), l.dashes
		sc.Color, sc.Shape, sc.Radius = l.col, draw.CircleGlyph{}, vg.Points(3)
		p.Add(ln, sc)
		p.Legend.Add(l.name, ln, sc)
	}
	p.Legend.Top, p.Legend.Left = true, true
	p.Add(plotter.NewGrid())
	return nil
}

func logAxes(p *plot.Plot, xTicks plot.Ticker) {
	p.X.Scale, p.Y.Scale = plot.LogScale{}, plot.LogScale{}
	p.X.Tick.Marker, p.Y.Tick.Marker = xTicks, plot.LogTicks{Prec: -1}
	// Room for the legend above the highest line, and a labelled power of ten below the lowest.
	p.Y.Max *= 4
	if p.Y.Min > 0 {
		p.Y.Min = 0.99 * math.Pow(10, math.Floor(math.Log10(p.Y.Min)))
	}
}

// fractionTicks labels the measured fractions.
func fractionTicks(xs []float64) plot.ConstantTicks {
	var t plot.ConstantTicks
	for _, x := range xs {
		t = append(t, plot.Tick{Value: x, Label: trimFloat(x) + " %"})
	}
	return t
}

func trimFloat(x float64) string {
	switch {
	case x >= 10:
		return fmt.Sprintf("%.0f", x)
	case x >= 1:
		return fmt.Sprintf("%.1f", x)
	case x >= 0.1:
		return fmt.Sprintf("%.2f", x)
	}
	return fmt.Sprintf("%.3f", x)
}
