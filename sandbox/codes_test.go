package sandbox

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

// iso4217 is ISO 4217 list one as in force in December 2026: every active
// code with a numeric minor unit, fund codes included, with its number of
// minor digits, sorted. Left out: the codes whose minor unit is "N.A."
// (precious metals, bond units, XDR, XSU, XUA, XTS, XXX) and the withdrawn
// codes: HRK (euro, 2023), SLL and ZWL (replaced by SLE and ZWG), ANG
// (replaced by XCG, amendment 176), CUC (amendment 178: Cuba's convertible
// peso, out of use since 2021) and BGN (amendment 180: Bulgaria joined the
// euro on 1 January 2026). XAD, the Arab Monetary Fund's accounting dinar,
// came in with amendment 179 (2025). Change it only with ISO 4217's own list
// in hand; the table in codes.go must then follow.
const iso4217 = `
AED2 AFN2 ALL2 AMD2 AOA2 ARS2 AUD2 AWG2 AZN2
BAM2 BBD2 BDT2 BHD3 BIF0 BMD2 BND2 BOB2 BOV2 BRL2 BSD2 BTN2 BWP2 BYN2 BZD2
CAD2 CDF2 CHE2 CHF2 CHW2 CLF4 CLP0 CNY2 COP2 COU2 CRC2 CUP2 CVE2 CZK2
DJF0 DKK2 DOP2 DZD2
EGP2 ERN2 ETB2 EUR2
FJD2 FKP2
GBP2 GEL2 GHS2 GIP2 GMD2 GNF0 GTQ2 GYD2
HKD2 HNL2 HTG2 HUF2
IDR2 ILS2 INR2 IQD3 IRR2 ISK0
JMD2 JOD3 JPY0
KES2 KGS2 KHR2 KMF0 KPW2 KRW0 KWD3 KYD2 KZT2
LAK2 LBP2 LKR2 LRD2 LSL2 LYD3
MAD2 MDL2 MGA2 MKD2 MMK2 MNT2 MOP2 MRU2 MUR2 MVR2 MWK2 MXN2 MXV2 MYR2 MZN2
NAD2 NGN2 NIO2 NOK2 NPR2 NZD2
OMR3
PAB2 PEN2 PGK2 PHP2 PKR2 PLN2 PYG0
QAR2
RON2 RSD2 RUB2 RWF0
SAR2 SBD2 SCR2 SDG2 SEK2 SGD2 SHP2 SLE2 SOS2 SRD2 SSP2 STN2 SVC2 SYP2 SZL2
THB2 TJS2 TMT2 TND3 TOP2 TRY2 TTD2 TWD2 TZS2
UAH2 UGX0 USD2 USN2 UYI0 UYU2 UYW4 UZS2
VED2 VES2 VND0 VUV0
WST2
XAD2 XAF0 XCD2 XCG2 XOF0 XPF0
YER2
ZAR2 ZMW2 ZWG2
`

func TestCurrencyTableIsISO4217(t *testing.T) {
	want := strings.Fields(iso4217)
	if !slices.IsSorted(want) {
		t.Fatal("the pinned list is not sorted")
	}
	var got []string
	for c, d := range currencyDigits {
		got = append(got, fmt.Sprintf("%s%d", c, d))
	}
	slices.Sort(got)
	for _, c := range got {
		if !slices.Contains(want, c) {
			t.Errorf("the sandbox accepts %s (code and minor digits), which ISO 4217's current list does not have", c)
		}
	}
	for _, c := range want {
		if !slices.Contains(got, c) {
			t.Errorf("the sandbox refuses %s, which ISO 4217's current list has", c)
		}
	}
}
