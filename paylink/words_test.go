package paylink

import "testing"

func TestEventName(t *testing.T) {
	// Every type the parser gives an effect (stablemint.EffectOf), the ones
	// the contract names as acting on no link, and unknown ones.
	cases := []struct{ typ, want string }{
		{"partner.customer.deposit.created", "Payment started"},
		{"partner.customer.deposit.initiated", "Payment started"},
		{"partner.customer.deposit.submitted", "Payment submitted"},
		{"partner.customer.deposit.reconciled", "Payment received"},
		{"partner.customer.deposit.accepted", "Payment received"},
		{"InwardPaymentReconciled", "Payment received"},
		{"partner.customer.deposit.completed", "Settled to your account"},
		{"partner.customer.deposit.failed", "Payment failed"},
		{"InwardPaymentFailed", "Payment failed"},
		{"partner.customer.deposit.refunded", "Payment refunded"},
		{"transaction.status.changed", "Payment status update"},
		{"partner.customer.withdrawal.created", "Withdrawal update (not a payment)"},
		{"partner.customer.withdrawal.completed", "Withdrawal update (not a payment)"},
		{"customer.token.transfer.in.initiated", "Token transfer update (not a payment)"},
		{"partner.customer.deposit.x", "Payment update"},
		{"PARTNER.CUSTOMER.DEPOSIT.COMPLETED", "Payment update"}, // types match exactly, as EffectOf does
		{"", "Message without an event name"},
		{"something.new", "Message from StableMint"},
	}
	for _, c := range cases {
		t.Run(c.typ, func(t *testing.T) {
			if got := EventName(c.typ); got != c.want {
				t.Fatalf("EventName(%q) = %q, want %q", c.typ, got, c.want)
			}
		})
	}
}

func TestEveryEffectTypeHasItsOwnName(t *testing.T) {
	// A type that moves a link is never described by a generic phrase.
	for typ := range eventNames {
		if n := EventName(typ); n == "Message from StableMint" || n == "Payment update" {
			t.Errorf("%s has the generic name %q", typ, n)
		}
	}
}

func TestTimelineTitle(t *testing.T) {
	cases := []struct{ kind, typ, want string }{
		{"status", "partner.customer.deposit.completed", "Settled to your account"},
		{"webhook", "partner.customer.withdrawal.failed", "Withdrawal update (not a payment)"},
		{"answered", "", "Checkout link created"},
		{"cancelled", "", "Link cancelled"},
		{"created", "", "Link created"},
		{"status", "", "Status changed"}, // an admin approved a held checkout host
		{"something-new", "", "Update"},
	}
	for _, c := range cases {
		if got := TimelineTitle(c.kind, c.typ); got != c.want {
			t.Errorf("TimelineTitle(%q, %q) = %q, want %q", c.kind, c.typ, got, c.want)
		}
	}
}
