package views_test

import (
	"strings"
	"testing"

	"github.com/paylinks/paylinks/views"
)

// TestLinksResultsHead: the rows shown and the total in words, the tabs
// as links with the current one marked and counts in their text, the
// short-term hint, and a refused search saying so instead of "no match".
func TestLinksResultsHead(t *testing.T) {
	p := views.LinksPage{
		Range: "51–100", Total: "10,000+", ShortTerm: true, Refused: true,
		Tabs: []views.StatusTab{
			{Key: "all", Label: "All", URL: "/links", Count: "10,000+"},
			{Key: "open", Label: "Open", URL: "/links?status=open", Current: true, Count: "1,234"},
			{Key: "attention", Label: "Needs attention", URL: "/links?attention=1"},
		},
		TabCountsURL: "/links?tab_counts=1", CountURL: "/links?count=1",
	}
	doc, _ := renderDoc(t, views.LinksResults(p))
	if got := strings.Join(strings.Fields(doc.Find("[data-testid=total]").Text()), " "); got != "51–100 of 10,000+" {
		t.Errorf("total %q", got)
	}
	cur := doc.Find("nav[data-testid=status-tabs] a[aria-current=page]")
	if cur.Length() != 1 || strings.TrimSpace(cur.Text()) != "Open (1,234)" {
		t.Errorf("current tab %q", cur.Text())
	}
	if got := strings.TrimSpace(doc.Find("[data-testid=tab-attention]").Text()); got != "Needs attention" {
		t.Errorf("an uncounted tab reads %q", got)
	}
	if src, _ := doc.Find("[data-testid=tab-counts-loader]").Attr("hx-get"); src != p.TabCountsURL {
		t.Errorf("tab counts load from %q", src)
	}
	if doc.Find("[data-testid=short-term-hint]").Length() != 1 || doc.Find("[data-testid=links-refused]").Length() != 1 ||
		doc.Find("[data-testid=links-empty]").Length() != 0 {
		t.Error("hint or refusal missing, or 'no match' shown for a refused search")
	}
}
