package handlers

import (
	"slices"
	"strings"
	"testing"

	"github.com/paylinks/paylinks/paylink"
)

// TestActionMatrix: what the link page offers for every status, held or
// not, and every role, written out in full. Viewers never act; no status
// but open offers the checkout or email; nothing that has ended or been
// paid can be cancelled.
func TestActionMatrix(t *testing.T) {
	want := map[string]string{ // "status held": finance's actions | admin's extra
		"creating":   "",
		"error":      "cancel reissue retry",
		"error held": "cancel",
		"open":       "cancel checkout email",
		"processing": "cancel",
		"paid":       "",
		"settled":    "",
		"failed":     "reissue",
		"expired":    "reissue",
		"cancelled":  "reissue",
	}
	viewerSees := map[string]string{"open": "checkout"}
	adminExtra := map[string]string{"error held": "approve-host"}
	names := func(m map[action]bool) string {
		var out []string
		for a := range m {
			out = append(out, string(a))
		}
		slices.Sort(out)
		return strings.Join(out, " ")
	}
	for _, st := range paylink.Statuses {
		for _, held := range []bool{false, true} {
			if held && st != paylink.StatusError {
				continue // only a link in error holds a checkout URL
			}
			key := string(st)
			if held {
				key += " held"
			}
			fin, ok := want[key]
			if !ok {
				t.Fatalf("the matrix has no row for %q", key)
			}
			adm := strings.TrimSpace(strings.Join(slices.Sorted(slices.Values(strings.Fields(fin+" "+adminExtra[key]))), " "))
			for role, w := range map[paylink.Role]string{paylink.RoleViewer: viewerSees[key], paylink.RoleFinance: fin, paylink.RoleAdmin: adm} {
				if got := names(actionsFor(st, held, role)); got != w {
					t.Errorf("%s, %s: offers %q, want %q", key, role, got, w)
				}
			}
		}
	}
}
