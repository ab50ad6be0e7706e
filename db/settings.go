package db

import (
	"context"
	"encoding/json"
)

// Settings are the admin-editable defaults. Zero values mean "use the
// built-in default" (the caller decides what that is).
type Settings struct {
	SuccessURL      string `json:"successUrl,omitempty"`
	SupportURL      string `json:"supportUrl,omitempty"`
	ExitURL         string `json:"exitUrl,omitempty"`
	ErrorURL        string `json:"errorUrl,omitempty"`
	DefaultCurrency string `json:"defaultCurrency,omitempty"`
	DefaultCountry  string `json:"defaultCountry,omitempty"`
	// MinAmount and MaxAmount bound every currency without a row of its
	// own in CurrencyLimits: decimal text, in units of the link's currency.
	MinAmount      string          `json:"minAmount,omitempty"`
	MaxAmount      string          `json:"maxAmount,omitempty"`
	CurrencyLimits []CurrencyLimit `json:"currencyLimits,omitempty"`
	// ApprovedCheckoutHosts are checkout hosts admins approved beside
	// StableMint's allowed ones (ApproveCheckoutHost adds them, audited).
	ApprovedCheckoutHosts []string `json:"approvedCheckoutHosts,omitempty"`
	// The merchant's brand (the logo itself is in brand_logo,
	// db/brand.go). CompanyName empty means never saved: the caller uses
	// the first-run default (PAYLINKS_COMPANY_NAME). AccentColor is
	// #rrggbb or empty (paylinks' own).
	CompanyName    string `json:"companyName,omitempty"`
	SupportEmail   string `json:"supportEmail,omitempty"`
	SupportPageURL string `json:"supportPageUrl,omitempty"`
	AccentColor    string `json:"accentColor,omitempty"`

	// Reminders is the rule every emailed open link's reminders follow
	// unless the link has its own (nil: DefaultReminderRule; db/reminders.go).
	Reminders *ReminderRule `json:"reminders,omitempty"`
	// NotifyTeam are addresses that receive every staff notification (paid,
	// failed, needs attention) at once (db/notifications.go).
	NotifyTeam []string `json:"notifyTeam,omitempty"`
	// OutboundPrivateHosts are webhook endpoint hosts allowed to resolve
	// to private, loopback or link-local addresses (db/outbound.go).
	OutboundPrivateHosts []string `json:"outboundPrivateHosts,omitempty"`
}

// CurrencyLimit bounds the amounts of one currency's links; an empty Min
// or Max leaves that side to StableMint.
type CurrencyLimit struct {
	Currency string `json:"currency"`
	Min      string `json:"min,omitempty"`
	Max      string `json:"max,omitempty"`
}

// LimitsFor is the admins' minimum and maximum for a currency: its own
// row, else the limits for every other currency.
func (st Settings) LimitsFor(currency string) (min, max string) {
	for _, l := range st.CurrencyLimits {
		if l.Currency == currency {
			return l.Min, l.Max
		}
	}
	return st.MinAmount, st.MaxAmount
}

const settingsKey = "links"

// GetSettings reads the saved settings (zero value when never saved).
func (s *Store) GetSettings(ctx context.Context) (Settings, error) {
	var raw string
	err := s.read.QueryRowContext(ctx, "SELECT value FROM settings WHERE key = ?", settingsKey).Scan(&raw)
	if err != nil {
		if err = mapErr(err); err == ErrNotFound {
			return Settings{}, nil
		}
		return Settings{}, err
	}
	var st Settings
	err = json.Unmarshal([]byte(raw), &st)
	return st, err
}

// SaveSettings replaces the settings and audits the change with the old and
// new values.
func (s *Store) SaveSettings(ctx context.Context, st Settings, actor int64, a AuditEntry) error {
	return s.withTx(ctx, func(tx *Tx) error { return saveSettings(ctx, tx, st, actor, a) })
}

func saveSettings(ctx context.Context, tx *Tx, st Settings, actor int64, a AuditEntry) error {
	var old string
	_ = tx.QueryRowContext(ctx, "SELECT value FROM settings WHERE key = ?", settingsKey).Scan(&old)
	b, err := putSettings(ctx, tx, st, actor)
	if err != nil {
		return err
	}
	// The reminder rule may have changed: links that follow it get their
	// next reminder worked out again.
	if err := rescheduleDefaults(ctx, tx, st.ReminderRule()); err != nil {
		return err
	}
	a.Target = "settings"
	a.Details = "from " + old + " to " + string(b)
	return insertAudit(ctx, tx, a)
}

// putSettings writes the settings row in tx and returns what it wrote.
func putSettings(ctx context.Context, tx *Tx, st Settings, actor int64) ([]byte, error) {
	b, err := json.Marshal(st)
	if err != nil {
		return nil, err
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO settings (key, value, updated_by, updated_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_by = excluded.updated_by, updated_at = excluded.updated_at`,
		settingsKey, string(b), actor, ms(tx.now))
	return b, err
}
