package main

import (
	"fmt"
	"html"
	"math"
	"strings"
)

// series is one server's points across the loads of a chart.
type series struct {
	name  string
	color string
	dash  bool
	ys    []float64 // NaN: no run at that load
}

var serverStyle = map[string]struct {
	color string
	dash  bool
}{
	"turnkey":        {"#1f77b4", false},
	"turnkey-kernel": {"#2ca02c", false},
	"coturn":         {"#d62728", false},
	"baseline":       {"#7f7f7f", true},
}

// niceMax rounds v up to 1, 2 or 5 times a power of ten (at least floor).
func niceMax(v, floor float64) float64 {
	if v < floor {
		v = floor
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*p >= v {
			return m * p
		}
	}
	return 10 * p
}

// chartSeries extracts, for the UDP loads, one series per server of key.
func chartSeries(all []record, key string) ([]loadKey, []series) {
	fixed := fixedRecords(all)
	var loads []loadKey
	for _, k := range sortedLoads(fixed) {
		if k.transport == "udp" {
			loads = append(loads, k)
		}
	}
	var out []series
	for _, s := range servers {
		st := serverStyle[s]
		se := series{name: s, color: st.color, dash: st.dash}
		seen := false
		for _, k := range loads {
			r, ok := pick(fixed[k], s)
			if !ok {
				se.ys = append(se.ys, math.NaN())
				continue
			}
			seen = true
			se.ys = append(se.ys, r.num(key))
		}
		if seen {
			out = append(out, se)
		}
	}
	return loads, out
}

// chartSVG draws two panels side by side, server CPU µs per relayed packet
// and loss %, against the UDP loads (by number of flows), one line per
// server. Plain SVG text, no dependencies.
func chartSVG(all []record, title string) string {
	const (
		W, H        = 760, 336
		panelW      = 330
		top, bottom = 74, 276
	)
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`+"\n", W, H, W, H)
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="white"/>`+"\n", W, H)
	fmt.Fprintf(&b, `<text x="%d" y="20" text-anchor="middle" font-size="14" font-weight="bold">%s</text>`+"\n", W/2, html.EscapeString(title))
	// Legend.
	_, ss := chartSeries(all, "server_us_per_pkt")
	for i, s := range ss {
		x := 200 + i*130
		fmt.Fprintf(&b, `<line x1="%d" y1="38" x2="%d" y2="38" stroke="%s" stroke-width="3"%s/>`, x, x+24, s.color, dashAttr(s.dash))
		fmt.Fprintf(&b, `<text x="%d" y="42">%s</text>`+"\n", x+30, html.EscapeString(s.name))
	}
	panel := func(x0 int, key, label, unit string, minMax float64, format string) {
		loads, ss := chartSeries(all, key)
		left, right := x0+50, x0+panelW
		maxV := 0.0
		for _, s := range ss {
			for _, y := range s.ys {
				if !math.IsNaN(y) {
					maxV = math.Max(maxV, y)
				}
			}
		}
		ymax := niceMax(maxV, minMax)
		yOf := func(v float64) float64 { return bottom - v/ymax*(bottom-top) }
		xOf := func(i int) float64 {
			if len(loads) == 1 {
				return float64(left+right) / 2
			}
			return float64(left+20) + float64(i)*float64(right-left-40)/float64(len(loads)-1)
		}
		fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="middle" font-weight="bold">%s</text>`+"\n", (left+right)/2, top-8, html.EscapeString(label))
		for i := 0; i <= 4; i++ {
			v := ymax * float64(i) / 4
			y := yOf(v)
			fmt.Fprintf(&b, `<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#ddd"/>`, left, y, right, y)
			fmt.Fprintf(&b, `<text x="%d" y="%.1f" text-anchor="end">%s</text>`+"\n", left-4, y+4, trimNum(math.Round(v*100)/100))
		}
		fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="black"/>`, left, bottom, right, bottom)
		fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="black"/>`+"\n", left, top, left, bottom)
		fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="middle" transform="rotate(-90 %d %d)">%s</text>`+"\n", x0+12, (top+bottom)/2, x0+12, (top+bottom)/2, html.EscapeString(unit))
		for i, k := range loads {
			fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="middle">%s</text>`+"\n", xOf(i), bottom+16, html.EscapeString(k.short()))
		}
		fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="middle">flows × pps per flow (UDP, 160 B)</text>`+"\n", (left+right)/2, bottom+34)
		for _, s := range ss {
			var pts []string
			for i, y := range s.ys {
				if math.IsNaN(y) {
					continue
				}
				pts = append(pts, fmt.Sprintf("%.1f,%.1f", xOf(i), yOf(y)))
			}
			fmt.Fprintf(&b, `<polyline fill="none" stroke="%s" stroke-width="2.5"%s points="%s"><title>%s</title></polyline>`+"\n",
				s.color, dashAttr(s.dash), strings.Join(pts, " "), html.EscapeString(s.name))
			for i, y := range s.ys {
				if math.IsNaN(y) {
					continue
				}
				fmt.Fprintf(&b, `<circle cx="%.1f" cy="%.1f" r="3.5" fill="%s"><title>%s %s: %s</title></circle>`+"\n",
					xOf(i), yOf(y), s.color, html.EscapeString(s.name), html.EscapeString(loads[i].short()), fmt.Sprintf(format, y))
			}
		}
	}
	panel(0, "server_us_per_pkt", "server CPU per relayed packet", "µs per packet", 1, "%.2f µs")
	panel(W/2, "loss_pct", "loss", "% of packets lost", 1, "%.3f %%")
	fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="middle" fill="#555">lower is better in both; same client, same run, servers alternating</text>`+"\n", W/2, H-8)
	b.WriteString("</svg>\n")
	return b.String()
}

func dashAttr(d bool) string {
	if d {
		return ` stroke-dasharray="6 4"`
	}
	return ""
}
