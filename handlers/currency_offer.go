package handlers

import (
	"context"

	"github.com/paylinks/paylinks/stablemint"
	"github.com/paylinks/paylinks/views"
)

// The new-link form's currency list starts with the default currency and
// the ones most used among the last recentLinks links (at most topCurrencies
// in all), then every other currency customers pay in.
const (
	recentLinks   = 1000
	topCurrencies = 6
)

// recentCurrencies is the store call the offer reads. handlers.Store does
// not list it (server.go is left alone); a store without it offers the
// default currency first and the rest by code.
type recentCurrencies interface {
	RecentCurrencies(ctx context.Context, scan, limit int) ([]string, error)
}

// mostUsedCurrencies are the currencies of the last recentLinks links,
// most used first.
func (a *app) mostUsedCurrencies(ctx context.Context) ([]string, error) {
	rc, ok := a.store.(recentCurrencies)
	if !ok {
		return nil, nil
	}
	return rc.RecentCurrencies(ctx, recentLinks, topCurrencies)
}

// currencyGroups is the new-link form's currency list: the codes in first
// (the settings' default, then the most used) as "Most used", then every
// other currency by code. Fund codes and units of account
// (stablemint.Currency.Payable) are not offered; the client still accepts
// them.
func currencyGroups(first []string) []views.OptionGroup {
	payable := map[string]stablemint.Currency{}
	for _, c := range stablemint.Currencies() {
		if c.Payable() {
			payable[c.Code] = c
		}
	}
	label := func(c stablemint.Currency) string { return c.Code + " — " + c.Name }
	top := views.OptionGroup{Label: "Most used"}
	seen := map[string]bool{}
	for _, code := range first {
		c, ok := payable[code]
		if !ok || seen[code] || len(top.Options) == topCurrencies {
			continue
		}
		seen[code] = true
		top.Options = append(top.Options, views.Option{Value: code, Label: label(c)})
	}
	rest := views.OptionGroup{Label: "All currencies"}
	for _, c := range stablemint.Currencies() {
		if c.Payable() && !seen[c.Code] {
			rest.Options = append(rest.Options, views.Option{Value: c.Code, Label: label(c)})
		}
	}
	if len(top.Options) == 0 {
		return []views.OptionGroup{rest}
	}
	return []views.OptionGroup{top, rest}
}
