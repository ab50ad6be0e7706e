package sandbox

import "strings"

// countryCodes holds the officially assigned ISO 3166-1 alpha-2 codes (249).
// User-assigned codes such as XK and reserved codes such as UK or EU are not
// in it, so the sandbox refuses them.
var countryCodes = setOf(`
AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ
BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS BT BV BW BY BZ
CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ
DE DJ DK DM DO DZ
EC EE EG EH ER ES ET
FI FJ FK FM FO FR
GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY
HK HM HN HR HT HU
ID IE IL IM IN IO IQ IR IS IT
JE JM JO JP
KE KG KH KI KM KN KP KR KW KY KZ
LA LB LC LI LK LR LS LT LU LV LY
MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ
NA NC NE NF NG NI NL NO NP NR NU NZ
OM
PA PE PF PG PH PK PL PM PN PR PS PT PW PY
QA
RE RO RS RU RW
SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ
TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ
UA UG UM US UY UZ
VA VC VE VG VI VN VU
WF WS
YE YT
ZA ZM ZW
`)

// currencyDigits maps the ISO 4217 codes the sandbox accepts to their number
// of minor digits: ISO 4217's current list of active codes (list one),
// pinned in codes_test.go, where the amendments behind it are named. Only
// codes with a defined minor unit are listed: precious metals, SDR, bond
// units, test and "no currency" codes (XAU, XDR, XBA, XTS, XXX, …) and
// withdrawn codes (HRK, SLL, ZWL, ANG, CUC, BGN, …) are refused.
var currencyDigits = digitsOf(`
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
`)

func setOf(list string) map[string]bool {
	m := make(map[string]bool)
	for _, c := range strings.Fields(list) {
		m[c] = true
	}
	return m
}

func digitsOf(list string) map[string]int {
	m := make(map[string]int)
	for _, c := range strings.Fields(list) {
		m[c[:3]] = int(c[3] - '0')
	}
	return m
}
