package outbound

import (
	"context"
	"fmt"
	"log/slog"
	"strings"

	"github.com/paylinks/paylinks/db"
	"github.com/paylinks/paylinks/paylink"
)

// AdminStore is what EmailAdmins needs; *db.Store is one.
type AdminStore interface {
	ListUsers(ctx context.Context) ([]db.User, error)
	OutboundEndpointByID(ctx context.Context, id int64) (db.OutboundEndpoint, error)
	QueueStaffEmail(ctx context.Context, ne db.NewEmail) (bool, error)
}

// AdminEmail says who sends the notice and where the endpoints page is.
type AdminEmail struct {
	FromAddr, FromName string
	PageURL            string // the endpoints page, for the email's link
	Wake               func() // wakes the mail worker after queueing
	Logger             *slog.Logger
}

// EmailAdmins is a Worker's Disabled hook: every enabled admin gets one
// staff email per disabled endpoint (once: the dedupe key names the
// endpoint and when it was disabled).
func EmailAdmins(st AdminStore, ae AdminEmail) func(ctx context.Context, ids []int64) {
	return func(ctx context.Context, ids []int64) {
		users, err := st.ListUsers(ctx)
		if err != nil {
			ae.log().Error("list admins to tell of a disabled webhook endpoint", "err", err)
			return
		}
		queued := false
		for _, id := range ids {
			e, err := st.OutboundEndpointByID(ctx, id)
			if err != nil {
				ae.log().Error("read a disabled webhook endpoint", "endpoint", id, "err", err)
				continue
			}
			subject := "Webhook endpoint disabled: " + e.URL
			if len(subject) > 200 {
				subject = subject[:200]
			}
			text := fmt.Sprintf("paylinks stopped sending webhooks to %s: %s.\n\n"+
				"The messages it could not deliver are marked failed. Check the receiver, enable the endpoint again and replay "+
				"the failed deliveries at %s\n", e.URL, e.DisabledReason, ae.PageURL)
			for _, u := range users {
				if u.Role != paylink.RoleAdmin || u.Disabled {
					continue
				}
				ok, err := st.QueueStaffEmail(ctx, db.NewEmail{FromAddr: ae.FromAddr, FromName: ae.FromName, ToAddr: u.Email,
					ToName: u.Name, Subject: strings.ReplaceAll(subject, "\n", " "), Text: text,
					HTML: "<p>" + htmlEscape(text) + "</p>", CreatedBy: u.ID,
					DedupeKey: fmt.Sprintf("webhook-disabled:%d:%d:%s", e.ID, e.DisabledAt.UnixMilli(), u.Email)})
				if err != nil {
					ae.log().Error("queue the disabled-endpoint email", "endpoint", id, "err", err)
				}
				queued = queued || ok
			}
		}
		if queued && ae.Wake != nil {
			ae.Wake()
		}
	}
}

func (ae AdminEmail) log() *slog.Logger {
	if ae.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return ae.Logger
}

var htmlEscaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&#34;", "'", "&#39;", "\n", "<br>")

func htmlEscape(s string) string { return htmlEscaper.Replace(s) }
