package tokenapi

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/twilio/twilio-go"
	openapi "github.com/twilio/twilio-go/rest/api/v2010"

	"github.com/turnkey-dev/turnkey/credentials/store"
)

func TestMegabytes(t *testing.T) {
	for _, tc := range []struct {
		bytes int64
		want  string
	}{{0, "0"}, {1, "0.000001"}, {1234, "0.001234"}, {1_000_000, "1"}, {12_500_000, "12.5"}, {1 << 40, "1099511.627776"}} {
		if got := megabytes(tc.bytes); got != tc.want {
			t.Errorf("megabytes(%d) = %q, want %q", tc.bytes, got, tc.want)
		}
	}
}

func TestSplitPeriods(t *testing.T) {
	d := func(s string) time.Time { t, _ := time.Parse("2006-01-02", s); return t }
	for _, tc := range []struct {
		p          usagePeriod
		start, end string
		want       []string
	}{
		{periodWhole, "2031-01-30", "2031-03-02", []string{"2031-01-30..2031-03-02"}},
		{periodDay, "2031-02-27", "2031-03-01", []string{"2031-02-27..2031-02-27", "2031-02-28..2031-02-28", "2031-03-01..2031-03-01"}},
		{periodMonth, "2031-01-30", "2031-03-02", []string{"2031-01-30..2031-01-31", "2031-02-01..2031-02-28", "2031-03-01..2031-03-02"}},
		{periodYear, "2030-12-31", "2031-01-01", []string{"2030-12-31..2030-12-31", "2031-01-01..2031-01-01"}},
		{periodDay, "2031-01-02", "2031-01-01", nil},
	} {
		var got []string
		for _, p := range splitPeriods(d(tc.start), d(tc.end), tc.p) {
			got = append(got, p[0].Format("2006-01-02")+".."+p[1].Format("2006-01-02"))
		}
		if strings.Join(got, " ") != strings.Join(tc.want, " ") {
			t.Errorf("splitPeriods(%s, %s, %d) = %v, want %v", tc.start, tc.end, tc.p, got, tc.want)
		}
	}
}

// TestUsageRecords reads stored usage through twilio-go and raw requests:
// categories per region, date ranges, subresources, subaccounts, paging.
func TestUsageRecords(t *testing.T) {
	st := openSQLite(t)
	e := newEnv(t, st, func(c *Config) {
		c.Regions = map[string]string{"eu": "eu.relay.example.com", "us": "us.relay.example.com"}
	})
	ctx := t.Context()
	today := e.clock.Now().UTC().Truncate(24 * time.Hour)
	sub, err := st.CreateSubaccount(ctx, e.account.SID, "tenant")
	if err != nil {
		t.Fatal(err)
	}
	if err := st.AddUsage(ctx, []store.UsageDelta{
		{AccountSID: e.account.SID, Region: "eu", Day: today, Bytes: 1_500_000},
		{AccountSID: e.account.SID, Region: "us", Day: today, Bytes: 250},
		{AccountSID: e.account.SID, Region: "eu", Day: today.AddDate(0, 0, -1), Bytes: 7},
		{AccountSID: sub.SID, Region: "eu", Day: today, Bytes: 1_000_000},
	}); err != nil {
		t.Fatal(err)
	}
	c := e.accountClient()
	recs, err := c.Api.ListUsageRecord(&openapi.ListUsageRecordParams{Category: ptr("turnmegabytes"), StartDate: ptr("-1days")})
	if err != nil || len(recs) != 1 {
		t.Fatalf("ListUsageRecord(turnmegabytes) = %d records, %v", len(recs), err)
	}
	r := recs[0]
	if *r.Usage != "2.500257" || *r.UsageUnit != "megabytes" || *r.Category != "turnmegabytes" || *r.AccountSid != e.account.SID ||
		*r.StartDate != today.AddDate(0, 0, -1).Format("2006-01-02") || *r.EndDate != today.Format("2006-01-02") || *r.Price != 0 {
		t.Errorf("record = usage %s %s category %s %s..%s price %v", *r.Usage, *r.UsageUnit, *r.Category, *r.StartDate, *r.EndDate, *r.Price)
	}
	own, err := c.Api.ListUsageRecord(&openapi.ListUsageRecordParams{IncludeSubaccounts: ptr(false), StartDate: ptr("-1days")})
	if err != nil || len(own) != 3 {
		t.Fatalf("all categories = %d, %v; want turnmegabytes, -eu, -us", len(own), err)
	}
	byCat := map[string]string{}
	for _, r := range own {
		byCat[*r.Category] = *r.Usage
	}
	if byCat["turnmegabytes"] != "1.500257" || byCat["turnmegabytes-eu"] != "1.500007" || byCat["turnmegabytes-us"] != "0.00025" {
		t.Errorf("own usage by category = %v", byCat)
	}
	daily, err := c.Api.ListUsageRecordDaily(&openapi.ListUsageRecordDailyParams{Category: ptr("turnmegabytes-eu"), StartDate: ptr("-1days"), PageSize: ptr(1)})
	if err != nil || len(daily) != 2 || *daily[0].Usage != "0.000007" || *daily[1].Usage != "2.5" {
		t.Errorf("daily eu = %d records, %v", len(daily), err)
	}
	today2, err := c.Api.ListUsageRecordToday(&openapi.ListUsageRecordTodayParams{Category: ptr("turnmegabytes")})
	if err != nil || len(today2) != 1 || *today2[0].Usage != "2.50025" {
		t.Errorf("today = %v, %v", today2, err)
	}
	// The subaccount sees its own usage; the parent's token may read it too.
	subClient := e.twilioClient(twilio.ClientParams{Username: sub.SID, Password: sub.AuthToken})
	for _, cl := range []*twilio.RestClient{subClient, c} {
		recs, err := cl.Api.ListUsageRecord(&openapi.ListUsageRecordParams{PathAccountSid: &sub.SID, Category: ptr("turnmegabytes")})
		if err != nil || len(recs) != 1 || *recs[0].Usage != "1" {
			t.Errorf("subaccount's usage = %v, %v", recs, err)
		}
	}

	base := "/2010-04-01/Accounts/" + e.account.SID + "/Usage/Records"
	get := func(path string) (int, usageRecordList, string) {
		res, body := e.do("GET", path, e.account.SID, e.account.AuthToken, "", nil)
		var l usageRecordList
		_ = json.Unmarshal(body, &l)
		return res.StatusCode, l, string(body)
	}
	for _, sub := range []string{"Daily", "Monthly", "Yearly", "AllTime", "Today", "Yesterday", "ThisMonth", "LastMonth"} {
		code, l, body := get(base + "/" + sub + ".json?Category=turnmegabytes")
		if code != 200 || len(l.UsageRecords) == 0 || l.UsageRecords[0].Category != "turnmegabytes" {
			t.Errorf("%s: %d %s", sub, code, body)
		}
	}
	if _, l, _ := get(base + "/Yesterday.json?Category=turnmegabytes"); len(l.UsageRecords) != 1 || l.UsageRecords[0].Usage != "0.000007" {
		t.Errorf("yesterday = %+v", l.UsageRecords)
	}
	if _, l, _ := get(base + ".json?Category=calls"); len(l.UsageRecords) != 0 {
		t.Errorf("a category turnkey has no usage for: %+v", l.UsageRecords)
	}
	// Usage 300 days back: daily records from a year back start there, in
	// pages of 100 followed by next_page_uri.
	if err := st.AddUsage(ctx, []store.UsageDelta{{AccountSID: e.account.SID, Region: "us", Day: today.AddDate(0, 0, -300), Bytes: 3}}); err != nil {
		t.Fatal(err)
	}
	code, l, body := get(base + "/Daily.json?StartDate=" + today.AddDate(-1, 0, 0).Format("2006-01-02") + "&PageSize=100&Category=turnmegabytes")
	if code != 200 {
		t.Fatalf("daily: %d %s", code, body)
	}
	var got []usageRecord
	got = append(got, l.UsageRecords...)
	for pages := 0; l.NextPageURI != nil; pages++ {
		if pages > 10 {
			t.Fatal("paging does not end")
		}
		_, l, _ = get(*l.NextPageURI)
		got = append(got, l.UsageRecords...)
	}
	if len(got) != 301 || got[0].Usage != "0.000003" || got[0].StartDate != today.AddDate(0, 0, -300).Format("2006-01-02") ||
		got[300].Usage != "2.50025" || got[300].EndDate != today.Format("2006-01-02") {
		t.Errorf("daily records from a year back: %d, first %+v", len(got), got[0])
	}
	for _, q := range []string{"StartDate=2031-02-30", "StartDate=yesterday", "EndDate=-5", "StartDate=+1days&EndDate=-1days", "IncludeSubaccounts=maybe", "PageToken=PAx", "Page=3"} {
		if res, body := e.do("GET", base+".json?"+q, e.account.SID, e.account.AuthToken, "", nil); res.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), "20001") {
			t.Errorf("?%s: %d %s; want 400/20001", q, res.StatusCode, body)
		}
	}
	if res, _ := e.do("GET", base+"/Weekly.json", e.account.SID, e.account.AuthToken, "", nil); res.StatusCode != http.StatusNotFound {
		t.Errorf("unknown subresource: %d", res.StatusCode)
	}
	other, err := st.CreateAccount(ctx, "other")
	if err != nil {
		t.Fatal(err)
	}
	if res, _ := e.do("GET", base+".json", other.SID, other.AuthToken, "", nil); res.StatusCode != http.StatusUnauthorized {
		t.Errorf("another account's usage: %d, want 401", res.StatusCode)
	}
}
