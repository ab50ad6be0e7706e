package stablemint

import (
	"slices"
	"strings"
)

// Currency is one entry of the ISO 4217 table.
type Currency struct {
	// Code is the alphabetic code, e.g. "EUR".
	Code string
	// Name is the ISO 4217 English name, e.g. "Euro".
	Name string
	// Exponent is the number of minor-unit digits: 2 for EUR, 0 for JPY,
	// 3 for KWD.
	Exponent int
}

// currencies is ISO 4217 list one as in force in December 2026, sorted by
// code: every active code that has a numeric minor unit, fund codes such as
// CLF and UYW included. Left out: the codes whose minor unit is "N.A."
// (precious metals, bond units, XDR, XSU, XUA, XTS, XXX), and codes ISO has
// withdrawn: HRK (Croatia's euro, 2023), SLL and ZWL (replaced by SLE and
// ZWG; neither is on the list of 2024-06-25), ANG (replaced by XCG in 2025)
// and BGN (Bulgaria adopted the euro on 2026-01-01; ISO withdraws a code at
// the changeover, as it did for HRK, LTL and LVL; amendment 180) and CUC
// (amendment 178: Cuba stopped using the convertible peso in 2021). XAD,
// the Arab Accounting Dinar, is in (amendment 179, 2025). Names and minor
// units are ISO's (list one of 2024-06-25), plus XCG and XAD, which are
// newer. The sandbox keeps its own list of the same codes.
// TestCurrencyListIsISO4217 pins the codes; change both together.
var currencies = [...]Currency{
	{Code: "AED", Name: "UAE Dirham", Exponent: 2},
	{Code: "AFN", Name: "Afghani", Exponent: 2},
	{Code: "ALL", Name: "Lek", Exponent: 2},
	{Code: "AMD", Name: "Armenian Dram", Exponent: 2},
	{Code: "AOA", Name: "Kwanza", Exponent: 2},
	{Code: "ARS", Name: "Argentine Peso", Exponent: 2},
	{Code: "AUD", Name: "Australian Dollar", Exponent: 2},
	{Code: "AWG", Name: "Aruban Florin", Exponent: 2},
	{Code: "AZN", Name: "Azerbaijan Manat", Exponent: 2},
	{Code: "BAM", Name: "Convertible Mark", Exponent: 2},
	{Code: "BBD", Name: "Barbados Dollar", Exponent: 2},
	{Code: "BDT", Name: "Taka", Exponent: 2},
	{Code: "BHD", Name: "Bahraini Dinar", Exponent: 3},
	{Code: "BIF", Name: "Burundi Franc", Exponent: 0},
	{Code: "BMD", Name: "Bermudian Dollar", Exponent: 2},
	{Code: "BND", Name: "Brunei Dollar", Exponent: 2},
	{Code: "BOB", Name: "Boliviano", Exponent: 2},
	{Code: "BOV", Name: "Mvdol", Exponent: 2},
	{Code: "BRL", Name: "Brazilian Real", Exponent: 2},
	{Code: "BSD", Name: "Bahamian Dollar", Exponent: 2},
	{Code: "BTN", Name: "Ngultrum", Exponent: 2},
	{Code: "BWP", Name: "Pula", Exponent: 2},
	{Code: "BYN", Name: "Belarusian Ruble", Exponent: 2},
	{Code: "BZD", Name: "Belize Dollar", Exponent: 2},
	{Code: "CAD", Name: "Canadian Dollar", Exponent: 2},
	{Code: "CDF", Name: "Congolese Franc", Exponent: 2},
	{Code: "CHE", Name: "WIR Euro", Exponent: 2},
	{Code: "CHF", Name: "Swiss Franc", Exponent: 2},
	{Code: "CHW", Name: "WIR Franc", Exponent: 2},
	{Code: "CLF", Name: "Unidad de Fomento", Exponent: 4},
	{Code: "CLP", Name: "Chilean Peso", Exponent: 0},
	{Code: "CNY", Name: "Yuan Renminbi", Exponent: 2},
	{Code: "COP", Name: "Colombian Peso", Exponent: 2},
	{Code: "COU", Name: "Unidad de Valor Real", Exponent: 2},
	{Code: "CRC", Name: "Costa Rican Colon", Exponent: 2},
	{Code: "CUP", Name: "Cuban Peso", Exponent: 2},
	{Code: "CVE", Name: "Cabo Verde Escudo", Exponent: 2},
	{Code: "CZK", Name: "Czech Koruna", Exponent: 2},
	{Code: "DJF", Name: "Djibouti Franc", Exponent: 0},
	{Code: "DKK", Name: "Danish Krone", Exponent: 2},
	{Code: "DOP", Name: "Dominican Peso", Exponent: 2},
	{Code: "DZD", Name: "Algerian Dinar", Exponent: 2},
	{Code: "EGP", Name: "Egyptian Pound", Exponent: 2},
	{Code: "ERN", Name: "Nakfa", Exponent: 2},
	{Code: "ETB", Name: "Ethiopian Birr", Exponent: 2},
	{Code: "EUR", Name: "Euro", Exponent: 2},
	{Code: "FJD", Name: "Fiji Dollar", Exponent: 2},
	{Code: "FKP", Name: "Falkland Islands Pound", Exponent: 2},
	{Code: "GBP", Name: "Pound Sterling", Exponent: 2},
	{Code: "GEL", Name: "Lari", Exponent: 2},
	{Code: "GHS", Name: "Ghana Cedi", Exponent: 2},
	{Code: "GIP", Name: "Gibraltar Pound", Exponent: 2},
	{Code: "GMD", Name: "Dalasi", Exponent: 2},
	{Code: "GNF", Name: "Guinean Franc", Exponent: 0},
	{Code: "GTQ", Name: "Quetzal", Exponent: 2},
	{Code: "GYD", Name: "Guyana Dollar", Exponent: 2},
	{Code: "HKD", Name: "Hong Kong Dollar", Exponent: 2},
	{Code: "HNL", Name: "Lempira", Exponent: 2},
	{Code: "HTG", Name: "Gourde", Exponent: 2},
	{Code: "HUF", Name: "Forint", Exponent: 2},
	{Code: "IDR", Name: "Rupiah", Exponent: 2},
	{Code: "ILS", Name: "New Israeli Sheqel", Exponent: 2},
	{Code: "INR", Name: "Indian Rupee", Exponent: 2},
	{Code: "IQD", Name: "Iraqi Dinar", Exponent: 3},
	{Code: "IRR", Name: "Iranian Rial", Exponent: 2},
	{Code: "ISK", Name: "Iceland Krona", Exponent: 0},
	{Code: "JMD", Name: "Jamaican Dollar", Exponent: 2},
	{Code: "JOD", Name: "Jordanian Dinar", Exponent: 3},
	{Code: "JPY", Name: "Yen", Exponent: 0},
	{Code: "KES", Name: "Kenyan Shilling", Exponent: 2},
	{Code: "KGS", Name: "Som", Exponent: 2},
	{Code: "KHR", Name: "Riel", Exponent: 2},
	{Code: "KMF", Name: "Comorian Franc", Exponent: 0},
	{Code: "KPW", Name: "North Korean Won", Exponent: 2},
	{Code: "KRW", Name: "Won", Exponent: 0},
	{Code: "KWD", Name: "Kuwaiti Dinar", Exponent: 3},
	{Code: "KYD", Name: "Cayman Islands Dollar", Exponent: 2},
	{Code: "KZT", Name: "Tenge", Exponent: 2},
	{Code: "LAK", Name: "Lao Kip", Exponent: 2},
	{Code: "LBP", Name: "Lebanese Pound", Exponent: 2},
	{Code: "LKR", Name: "Sri Lanka Rupee", Exponent: 2},
	{Code: "LRD", Name: "Liberian Dollar", Exponent: 2},
	{Code: "LSL", Name: "Loti", Exponent: 2},
	{Code: "LYD", Name: "Libyan Dinar", Exponent: 3},
	{Code: "MAD", Name: "Moroccan Dirham", Exponent: 2},
	{Code: "MDL", Name: "Moldovan Leu", Exponent: 2},
	{Code: "MGA", Name: "Malagasy Ariary", Exponent: 2},
	{Code: "MKD", Name: "Denar", Exponent: 2},
	{Code: "MMK", Name: "Kyat", Exponent: 2},
	{Code: "MNT", Name: "Tugrik", Exponent: 2},
	{Code: "MOP", Name: "Pataca", Exponent: 2},
	{Code: "MRU", Name: "Ouguiya", Exponent: 2},
	{Code: "MUR", Name: "Mauritius Rupee", Exponent: 2},
	{Code: "MVR", Name: "Rufiyaa", Exponent: 2},
	{Code: "MWK", Name: "Malawi Kwacha", Exponent: 2},
	{Code: "MXN", Name: "Mexican Peso", Exponent: 2},
	{Code: "MXV", Name: "Mexican Unidad de Inversion (UDI)", Exponent: 2},
	{Code: "MYR", Name: "Malaysian Ringgit", Exponent: 2},
	{Code: "MZN", Name: "Mozambique Metical", Exponent: 2},
	{Code: "NAD", Name: "Namibia Dollar", Exponent: 2},
	{Code: "NGN", Name: "Naira", Exponent: 2},
	{Code: "NIO", Name: "Cordoba Oro", Exponent: 2},
	{Code: "NOK", Name: "Norwegian Krone", Exponent: 2},
	{Code: "NPR", Name: "Nepalese Rupee", Exponent: 2},
	{Code: "NZD", Name: "New Zealand Dollar", Exponent: 2},
	{Code: "OMR", Name: "Rial Omani", Exponent: 3},
	{Code: "PAB", Name: "Balboa", Exponent: 2},
	{Code: "PEN", Name: "Sol", Exponent: 2},
	{Code: "PGK", Name: "Kina", Exponent: 2},
	{Code: "PHP", Name: "Philippine Peso", Exponent: 2},
	{Code: "PKR", Name: "Pakistan Rupee", Exponent: 2},
	{Code: "PLN", Name: "Zloty", Exponent: 2},
	{Code: "PYG", Name: "Guarani", Exponent: 0},
	{Code: "QAR", Name: "Qatari Rial", Exponent: 2},
	{Code: "RON", Name: "Romanian Leu", Exponent: 2},
	{Code: "RSD", Name: "Serbian Dinar", Exponent: 2},
	{Code: "RUB", Name: "Russian Ruble", Exponent: 2},
	{Code: "RWF", Name: "Rwanda Franc", Exponent: 0},
	{Code: "SAR", Name: "Saudi Riyal", Exponent: 2},
	{Code: "SBD", Name: "Solomon Islands Dollar", Exponent: 2},
	{Code: "SCR", Name: "Seychelles Rupee", Exponent: 2},
	{Code: "SDG", Name: "Sudanese Pound", Exponent: 2},
	{Code: "SEK", Name: "Swedish Krona", Exponent: 2},
	{Code: "SGD", Name: "Singapore Dollar", Exponent: 2},
	{Code: "SHP", Name: "Saint Helena Pound", Exponent: 2},
	{Code: "SLE", Name: "Leone", Exponent: 2},
	{Code: "SOS", Name: "Somali Shilling", Exponent: 2},
	{Code: "SRD", Name: "Surinam Dollar", Exponent: 2},
	{Code: "SSP", Name: "South Sudanese Pound", Exponent: 2},
	{Code: "STN", Name: "Dobra", Exponent: 2},
	{Code: "SVC", Name: "El Salvador Colon", Exponent: 2},
	{Code: "SYP", Name: "Syrian Pound", Exponent: 2},
	{Code: "SZL", Name: "Lilangeni", Exponent: 2},
	{Code: "THB", Name: "Baht", Exponent: 2},
	{Code: "TJS", Name: "Somoni", Exponent: 2},
	{Code: "TMT", Name: "Turkmenistan New Manat", Exponent: 2},
	{Code: "TND", Name: "Tunisian Dinar", Exponent: 3},
	{Code: "TOP", Name: "Pa’anga", Exponent: 2},
	{Code: "TRY", Name: "Turkish Lira", Exponent: 2},
	{Code: "TTD", Name: "Trinidad and Tobago Dollar", Exponent: 2},
	{Code: "TWD", Name: "New Taiwan Dollar", Exponent: 2},
	{Code: "TZS", Name: "Tanzanian Shilling", Exponent: 2},
	{Code: "UAH", Name: "Hryvnia", Exponent: 2},
	{Code: "UGX", Name: "Uganda Shilling", Exponent: 0},
	{Code: "USD", Name: "US Dollar", Exponent: 2},
	{Code: "USN", Name: "US Dollar (Next day)", Exponent: 2},
	{Code: "UYI", Name: "Uruguay Peso en Unidades Indexadas (UI)", Exponent: 0},
	{Code: "UYU", Name: "Peso Uruguayo", Exponent: 2},
	{Code: "UYW", Name: "Unidad Previsional", Exponent: 4},
	{Code: "UZS", Name: "Uzbekistan Sum", Exponent: 2},
	{Code: "VED", Name: "Bolívar Soberano", Exponent: 2},
	{Code: "VES", Name: "Bolívar Soberano", Exponent: 2},
	{Code: "VND", Name: "Dong", Exponent: 0},
	{Code: "VUV", Name: "Vatu", Exponent: 0},
	{Code: "WST", Name: "Tala", Exponent: 2},
	{Code: "XAD", Name: "Arab Accounting Dinar", Exponent: 2},
	{Code: "XAF", Name: "CFA Franc BEAC", Exponent: 0},
	{Code: "XCD", Name: "East Caribbean Dollar", Exponent: 2},
	{Code: "XCG", Name: "Caribbean Guilder", Exponent: 2},
	{Code: "XOF", Name: "CFA Franc BCEAO", Exponent: 0},
	{Code: "XPF", Name: "CFP Franc", Exponent: 0},
	{Code: "YER", Name: "Yemeni Rial", Exponent: 2},
	{Code: "ZAR", Name: "Rand", Exponent: 2},
	{Code: "ZMW", Name: "Zambian Kwacha", Exponent: 2},
	{Code: "ZWG", Name: "Zimbabwe Gold", Exponent: 2},
}

// Currencies returns the ISO 4217 currencies paylinks accepts, sorted by
// code. The slice is a copy; callers may keep or change it.
func Currencies() []Currency {
	return slices.Clone(currencies[:])
}

// CurrencyExponent returns the number of minor-unit digits of the ISO 4217
// code (exactly as written: "EUR", not "eur") and whether the code is known.
func CurrencyExponent(code string) (int, bool) {
	c, ok := lookupCurrency(code)
	return c.Exponent, ok
}

// ValidCurrency reports whether code is a known ISO 4217 code, in upper case.
func ValidCurrency(code string) bool {
	_, ok := lookupCurrency(code)
	return ok
}

func lookupCurrency(code string) (Currency, bool) {
	i, ok := slices.BinarySearchFunc(currencies[:], code, func(c Currency, code string) int {
		return strings.Compare(c.Code, code)
	})
	if !ok {
		return Currency{}, false
	}
	return currencies[i], true
}

// notForPayment are the codes of currencies a customer does not pay in:
// ISO 4217's fund codes (list one's "Fund" entries: BOV, CHE, CHW, CLF,
// COU, MXV, USN, UYI, UYW) and the Arab Accounting Dinar (XAD), a unit of
// account between central banks. The precious metals, bond units and test
// codes (XAU, XAG, XPD, XPT, XBA–XBD, XDR, XSU, XUA, XTS, XXX) are not in
// the table at all.
var notForPayment = map[string]bool{
	"BOV": true, "CHE": true, "CHW": true, "CLF": true, "COU": true, "MXV": true, "USN": true, "UYI": true, "UYW": true,
	"XAD": true,
}

// Payable reports whether customers pay in the currency: false for fund
// codes and units of account. The client still accepts every code in
// Currencies (StableMint decides what it takes); forms offer only these.
func (c Currency) Payable() bool { return !notForPayment[c.Code] }
