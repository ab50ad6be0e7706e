package handlers

import (
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/paylinks/paylinks/db"
	"github.com/paylinks/paylinks/paylink"
	"github.com/paylinks/paylinks/views"
)

// timeline builds a link's timeline for the viewer: each line headed in
// plain words (paylink.TimelineTitle), its time in the viewer's zone, and,
// for admins only, the StableMint event type as sent with a link to the
// message as received.
func (a *app) timeline(c echo.Context, events []db.LinkEvent) []views.TimelineEntry {
	loc := viewerZone(c)
	u := currentUser(c)
	admin := u != nil && u.Role.AtLeast(paylink.RoleAdmin)
	out := make([]views.TimelineEntry, 0, len(events))
	for _, e := range events {
		t := views.TimelineEntry{At: when(loc, e.At), Kind: e.Kind, Actor: e.ActorName,
			Title: paylink.TimelineTitle(e.Kind, e.EventType), Message: plainMessage(e.Message, e.EventType)}
		// "Payment started: open → processing." under the title "Payment
		// started" reads as the title continued, not said twice.
		if rest, ok := strings.CutPrefix(t.Message, t.Title); ok {
			t.Message, t.Continues = rest, true
		}
		if admin && e.EventType != "" {
			t.EventType, t.EventURL = e.EventType, a.url(RouteEvent, e.RefID)
		}
		out = append(out, t)
	}
	return out
}

// plainMessage takes a StableMint event type out of a timeline line
// written before lines named events in plain words: "Payment accepted by
// StableMint (InwardPaymentReconciled): open → paid." loses the
// parenthesis, and "StableMint sent 'x.y', which …" names it plainly.
func plainMessage(msg, eventType string) string {
	if eventType == "" || !strings.Contains(msg, eventType) {
		return msg
	}
	msg = strings.ReplaceAll(msg, " ("+eventType+")", "")
	return strings.ReplaceAll(msg, "'"+eventType+"'", "“"+paylink.EventName(eventType)+"”")
}
