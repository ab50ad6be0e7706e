package views

import "time"

// WhenLayout is the one way staff see a date and time: "5 Dec 2026, 14:05
// CET", in the viewer's time zone, with the zone's abbreviation (or its
// offset, "+03", where the zone has no abbreviation). docs/guide.md
// ("Dates and times") records the choice.
const WhenLayout = "2 Jan 2006, 15:04 MST"

// When formats t for a viewer in loc (UTC when loc is nil); "" for the
// zero time. Every time a staff page shows goes through it; exports keep
// UTC ISO 8601 and customers' emails keep their own format.
func When(loc *time.Location, t time.Time) string {
	if t.IsZero() {
		return ""
	}
	if loc == nil {
		loc = time.UTC
	}
	return t.In(loc).Format(WhenLayout)
}
