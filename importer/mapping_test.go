package importer_test

import (
	"testing"

	"github.com/paylinks/paylinks/importer"
)

func TestAutoMapNamesAndAliases(t *testing.T) {
	cases := []struct{ header, want string }{
		{"userId", "userId"}, {"USER ID", "userId"}, {"user_id", "userId"}, {"Customer", "userId"},
		{"Customer No.", "userId"}, {"Customer email", "userEmail"}, {"E-mail address", "userEmail"},
		{"Country", "userCountryCode"}, {"Country code", "userCountryCode"}, {"CCY", "currency"},
		{"Total", "amount"}, {"Amount due", "amount"}, {"Invoice", "websiteReference"},
		{"Invoice number", "websiteReference"}, {"Invoice No", "websiteReference"}, {"Reference", "websiteReference"},
		{"Notes", "note"}, {"email", "email"}, {"Send email?", "email"}, {"userKyc.fullName", "userKyc.fullName"},
		{"Date of birth", "userKyc.dateOfBirth"}, {"custom.costCentre", "custom.costCentre"},
		{"Custom.Region", "custom.Region"}, {"Colour", ""}, {"", ""},
	}
	for _, tc := range cases {
		t.Run(tc.header, func(t *testing.T) {
			if got := importer.AutoMap([]string{tc.header})[0]; got != tc.want {
				t.Errorf("AutoMap(%q) = %q, want %q", tc.header, got, tc.want)
			}
		})
	}
}

func TestAutoMapTakesAFieldOnce(t *testing.T) {
	m := importer.AutoMap([]string{"Total", "Amount", "Invoice"})
	if m[0] != "amount" || m[1] != "" || m[2] != "websiteReference" {
		t.Errorf("got %q, want the first amount column only", m)
	}
}

func TestAdjustRemaps(t *testing.T) {
	m := importer.AutoMap([]string{"Customer", "Total", "Memo"})
	got := m.Adjust(map[int]string{0: "", 2: "websiteReference", 1: "no-such-field"})
	if got[0] != "" || got[1] != "amount" || got[2] != "websiteReference" {
		t.Errorf("got %q", got)
	}
	twice := m.Adjust(map[int]string{2: "amount"})
	if twice[1] != "amount" || twice[2] != "" {
		t.Errorf("a field chosen twice keeps its first column: %q", twice)
	}
}

func TestHeaderHashIgnoresCaseAndPunctuation(t *testing.T) {
	a := importer.HeaderHash([]string{"Invoice No.", "Customer Email"})
	if b := importer.HeaderHash([]string{"invoice no", "customer_email"}); a != b {
		t.Errorf("same layout, different hash")
	}
	if c := importer.HeaderHash([]string{"Customer Email", "Invoice No."}); a == c {
		t.Errorf("another order, same hash")
	}
}
