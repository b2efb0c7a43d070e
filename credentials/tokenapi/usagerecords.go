package tokenapi

import (
	"encoding/base64"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/turnkey-dev/turnkey/credentials/store"
)

// Twilio's Network Traversal usage categories: the total, and one per
// region as "turnmegabytes-<region>".
const (
	categoryTURN       = "turnmegabytes"
	categoryTURNPrefix = categoryTURN + "-"
	// bytesPerMegabyte: usage is reported in decimal megabytes, with six
	// decimals, so the bytes are exact.
	bytesPerMegabyte = 1_000_000
)

// usageRecord is Twilio's UsageRecord. count, usage and price are strings,
// as Twilio sends them.
type usageRecord struct {
	AccountSID      string            `json:"account_sid"`
	APIVersion      string            `json:"api_version"`
	AsOf            string            `json:"as_of"`
	Category        string            `json:"category"`
	Count           string            `json:"count"`
	CountUnit       string            `json:"count_unit"`
	Description     string            `json:"description"`
	EndDate         string            `json:"end_date"`
	Price           string            `json:"price"`
	PriceUnit       string            `json:"price_unit"`
	StartDate       string            `json:"start_date"`
	SubresourceURIs map[string]string `json:"subresource_uris"`
	URI             string            `json:"uri"`
	Usage           string            `json:"usage"`
	UsageUnit       string            `json:"usage_unit"`
}

type usageRecordList struct {
	UsageRecords []usageRecord `json:"usage_records"`
	pageMeta
}

// usagePeriod is how a Usage Records resource splits its date range.
type usagePeriod int

const (
	periodWhole usagePeriod = iota // one record per category over the range
	periodDay
	periodMonth
	periodYear
)

// usageSubresources maps each subresource's path segment to its period and
// fixed range (nil: the range comes from StartDate/EndDate); the names are
// Twilio's, as are the subresource_uris keys.
var usageSubresources = map[string]struct {
	key    string
	period usagePeriod
	fixed  func(today time.Time) (time.Time, time.Time)
}{
	"Daily.json":     {"daily", periodDay, nil},
	"Monthly.json":   {"monthly", periodMonth, nil},
	"Yearly.json":    {"yearly", periodYear, nil},
	"AllTime.json":   {"all_time", periodWhole, nil},
	"Today.json":     {"today", periodWhole, func(d time.Time) (time.Time, time.Time) { return d, d }},
	"Yesterday.json": {"yesterday", periodWhole, func(d time.Time) (time.Time, time.Time) { y := d.AddDate(0, 0, -1); return y, y }},
	"ThisMonth.json": {"this_month", periodWhole, func(d time.Time) (time.Time, time.Time) { return monthStart(d), d }},
	"LastMonth.json": {"last_month", periodWhole, func(d time.Time) (time.Time, time.Time) {
		first := monthStart(d)
		return first.AddDate(0, -1, 0), first.AddDate(0, 0, -1)
	}},
}

func monthStart(d time.Time) time.Time {
	return time.Date(d.Year(), d.Month(), 1, 0, 0, 0, 0, time.UTC)
}

// relativeDate is Twilio's offset form: "-30days", "+30days".
var relativeDate = regexp.MustCompile(`^([+-])([0-9]{1,5})days$`)

// parseUsageDate reads a StartDate/EndDate: YYYY-MM-DD (GMT) or an offset
// in days from today.
func parseUsageDate(v string, today time.Time) (time.Time, bool) {
	if m := relativeDate.FindStringSubmatch(v); m != nil {
		n, _ := strconv.Atoi(m[2])
		if m[1] == "-" {
			n = -n
		}
		return today.AddDate(0, 0, n), true
	}
	d, err := time.Parse("2006-01-02", v)
	if err != nil || d.Year() < 1970 || d.Year() > 9999 {
		return time.Time{}, false
	}
	return d, true
}

// megabytes formats bytes as decimal megabytes, exactly.
func megabytes(b int64) string {
	s := strconv.FormatInt(b/bytesPerMegabyte, 10)
	if frac := b % bytesPerMegabyte; frac != 0 {
		f := strconv.FormatInt(frac+bytesPerMegabyte, 10)[1:]
		s += "." + strings.TrimRight(f, "0")
	}
	return s
}

// handleUsageRecords serves /2010-04-01/Accounts/{AccountSid}/Usage/Records.json
// and its subresources (/Usage/Records/{Daily,...}.json).
func (a *API) handleUsageRecords(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		methodNotAllowed(w, r, "GET")
		return
	}
	sub := r.PathValue("Sub")
	spec, known := usageSubresources[sub]
	if sub != "" && !known {
		notFound(w, r)
		return
	}
	p, ok := a.authBasic(w, r, r.PathValue("AccountSid"))
	if !ok || !a.parseForm(w, r) {
		return
	}
	now := a.now().UTC()
	today := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)
	created := p.Account.DateCreated.UTC().Truncate(24 * time.Hour)
	start, end := created, today
	if spec.fixed != nil {
		start, end = spec.fixed(today)
	} else {
		for _, d := range []struct {
			name string
			dst  *time.Time
		}{{"StartDate", &start}, {"EndDate", &end}} {
			if v := r.Form.Get(d.name); v != "" {
				t, ok := parseUsageDate(v, today)
				if !ok {
					badParameter(w, "Invalid "+d.name+": use YYYY-MM-DD or an offset such as -30days")
					return
				}
				*d.dst = t
			}
		}
		if end.Before(start) {
			badParameter(w, "Invalid date range: EndDate is before StartDate")
			return
		}
	}
	include := true
	if v := r.Form.Get("IncludeSubaccounts"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			badParameter(w, "Invalid IncludeSubaccounts: must be true or false")
			return
		}
		include = b
	}
	pr, offset, ok := readPage(w, r, decodeOffsetToken)
	if !ok {
		return
	}
	if offset > 0 {
		// The page's own URI carries the token as we make it.
		pr.token = encodeOffsetToken(offset)
	}
	category := r.Form.Get("Category")

	days, err := a.cfg.Store.UsageDays(r.Context(), p.AccountSID, include, start, end)
	if err != nil {
		a.storeFailed(w, r, "reading usage", err)
		return
	}
	categories := a.usageCategories(days, category)
	// Periods are only spelled out where usage can exist: from the day
	// the account was made (or its first usage, if earlier) until today.
	spanStart, spanEnd := start, end
	if spec.period != periodWhole {
		first := created
		if len(days) > 0 {
			first = minTime(first, days[0].Day)
		}
		spanStart, spanEnd = maxTime(start, first), minTime(end, today)
	}
	base := "/2010-04-01/Accounts/" + p.AccountSID + "/Usage/Records"
	asOf := now.Format("2006-01-02T15:04:05+00:00")
	var records []usageRecord
	for _, ps := range splitPeriods(spanStart, spanEnd, spec.period) {
		for _, cat := range categories {
			var total int64
			for _, d := range days {
				if !d.Day.Before(ps[0]) && !d.Day.After(ps[1]) && (cat == categoryTURN || cat == categoryTURNPrefix+d.Region) {
					total += d.Bytes
				}
			}
			records = append(records, a.usageRecordJSON(p.AccountSID, base, cat, ps[0], ps[1], total, asOf))
		}
	}

	pageRecs := records[min(offset, len(records)):min(offset+pr.size, len(records))]
	var next string
	if offset+pr.size < len(records) {
		next = encodeOffsetToken(offset + pr.size)
	}
	path := base + ".json"
	if sub != "" {
		path = base + "/" + sub
	}
	filters := url.Values{}
	for _, k := range []string{"Category", "StartDate", "EndDate", "IncludeSubaccounts"} {
		if v := r.Form.Get(k); v != "" {
			filters.Set(k, v)
		}
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, usageRecordList{
		UsageRecords: append([]usageRecord{}, pageRecs...),
		pageMeta:     pr.meta(path, filters, len(pageRecs), next),
	})
}

// usageCategories lists the categories to report: turnmegabytes and one
// per region (configured in api.regions or found in the usage), or just
// the one asked for. Other Twilio categories have no usage here: none.
func (a *API) usageCategories(days []store.UsageDay, asked string) []string {
	if asked != "" {
		region, regional := strings.CutPrefix(asked, categoryTURNPrefix)
		if asked == categoryTURN || (regional && region != "") {
			return []string{asked}
		}
		return nil
	}
	regions := map[string]bool{}
	for name := range *a.hosts.regions.Load() {
		if name != globalRegion {
			regions[name] = true
		}
	}
	for _, d := range days {
		if d.Region != "" {
			regions[d.Region] = true
		}
	}
	out := []string{categoryTURN}
	for name := range regions {
		out = append(out, categoryTURNPrefix+name)
	}
	slices.Sort(out[1:])
	return out
}

func (a *API) usageRecordJSON(accountSID, base, category string, start, end time.Time, bytes int64, asOf string) usageRecord {
	desc := "TURN megabytes"
	if region, ok := strings.CutPrefix(category, categoryTURNPrefix); ok {
		desc += " (" + region + ")"
	}
	mb := megabytes(bytes)
	q := url.Values{"Category": {category}}
	subs := map[string]string{}
	for name, spec := range usageSubresources {
		subs[spec.key] = base + "/" + name + "?" + q.Encode()
	}
	q.Set("StartDate", start.Format("2006-01-02"))
	q.Set("EndDate", end.Format("2006-01-02"))
	return usageRecord{
		AccountSID:      accountSID,
		APIVersion:      "2010-04-01",
		AsOf:            asOf,
		Category:        category,
		Count:           mb,
		CountUnit:       "megabytes",
		Description:     desc,
		EndDate:         end.Format("2006-01-02"),
		Price:           "0",
		PriceUnit:       "usd",
		StartDate:       start.Format("2006-01-02"),
		SubresourceURIs: subs,
		URI:             base + ".json?" + q.Encode(),
		Usage:           mb,
		UsageUnit:       "megabytes",
	}
}

// splitPeriods cuts [start, end] (UTC days) into days, calendar months or
// years; periodWhole keeps it whole. Each part is [first, last] day.
func splitPeriods(start, end time.Time, p usagePeriod) [][2]time.Time {
	if end.Before(start) {
		return nil
	}
	if p == periodWhole {
		return [][2]time.Time{{start, end}}
	}
	var out [][2]time.Time
	for cur := start; !cur.After(end); {
		var next time.Time
		switch p {
		case periodDay:
			next = cur.AddDate(0, 0, 1)
		case periodMonth:
			next = monthStart(cur).AddDate(0, 1, 0)
		default:
			next = time.Date(cur.Year()+1, 1, 1, 0, 0, 0, 0, time.UTC)
		}
		out = append(out, [2]time.Time{cur, minTime(next.AddDate(0, 0, -1), end)})
		cur = next
	}
	return out
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// encodeOffsetToken is the PageToken of a computed list: records for past
// days never move, so an offset pages them stably.
func encodeOffsetToken(off int) string {
	return pageTokenPrefix + base64.RawURLEncoding.EncodeToString([]byte("o"+strconv.Itoa(off)))
}

func decodeOffsetToken(tok string) (int, bool) {
	rest, found := strings.CutPrefix(tok, pageTokenPrefix)
	if !found || len(rest) > 32 {
		return 0, false
	}
	raw, err := base64.RawURLEncoding.DecodeString(rest)
	if err != nil || len(raw) < 2 || raw[0] != 'o' {
		return 0, false
	}
	n, err := strconv.Atoi(string(raw[1:]))
	if err != nil || n <= 0 || n > maxPage*maxPageSize {
		return 0, false
	}
	return n, true
}
