// Package promtext reads turnkey's /metrics in Prometheus' text exposition
// format for the tests and tools that check it (e2e, turnkey-bench,
// turnkey-bench soak, cmd/turnkey's tests): one parser, prometheus/common's
// expfmt, instead of one written by hand per caller.
package promtext

import (
	"context"
	"fmt"
	"io"
	"net/http"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// Families is one scrape, by metric name.
type Families map[string]*dto.MetricFamily

// Parse reads a text exposition.
func Parse(r io.Reader) (Families, error) {
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(r)
	if err != nil {
		return nil, fmt.Errorf("promtext: %w", err)
	}
	return fams, nil
}

// Fetch scrapes url (asking for the text format) and parses the answer.
func Fetch(ctx context.Context, c *http.Client, url string) (Families, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, fmt.Errorf("promtext: scrape %s: %w", url, err)
	}
	req.Header.Set("Accept", "text/plain;version=0.0.4")
	res, err := c.Do(req)
	if err != nil {
		return nil, fmt.Errorf("promtext: scrape %s: %w", url, err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("promtext: scrape %s: %s", url, res.Status)
	}
	return Parse(io.LimitReader(res.Body, 64<<20))
}

// Value sums the series of name whose labels include the given name/value
// pairs (none: the whole family). A histogram or summary contributes its
// sample count. ok is false when no series matches.
func (f Families) Value(name string, labelPairs ...string) (v float64, ok bool) {
	fam := f[name]
	if fam == nil {
		return 0, false
	}
	for _, m := range fam.GetMetric() {
		if !Has(m, labelPairs...) {
			continue
		}
		ok = true
		v += Sample(m)
	}
	return v, ok
}

// Has reports whether m carries every name/value pair.
func Has(m *dto.Metric, labelPairs ...string) bool {
	for i := 0; i+1 < len(labelPairs); i += 2 {
		found := false
		for _, l := range m.GetLabel() {
			if l.GetName() == labelPairs[i] && l.GetValue() == labelPairs[i+1] {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// Sample is one series' value: a counter's, gauge's or untyped value, a
// histogram's or summary's sample count.
func Sample(m *dto.Metric) float64 {
	switch {
	case m.GetCounter() != nil:
		return m.GetCounter().GetValue()
	case m.GetGauge() != nil:
		return m.GetGauge().GetValue()
	case m.GetHistogram() != nil:
		return float64(m.GetHistogram().GetSampleCount())
	case m.GetSummary() != nil:
		return float64(m.GetSummary().GetSampleCount())
	case m.GetUntyped() != nil:
		return m.GetUntyped().GetValue()
	}
	return 0
}
