package importer

import (
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"strings"
	"unicode"

	"github.com/paylinks/paylinks/links"
)

// EmailField is the optional yes/no column: email the customer once the
// link is made.
const EmailField = "email"

// CustomPrefix starts a custom field's column: custom.<name>.
const CustomPrefix = "custom."

// TemplateFields are the template's columns, by the form's field names.
func TemplateFields() []string {
	out := []string{"userId", "userEmail", "userCountryCode", "currency", "amount", "websiteReference", "note"}
	for _, k := range links.KYCKeys {
		out = append(out, "userKyc."+k)
	}
	return append(out, EmailField)
}

// Fields are every field a column may be matched to (besides
// custom.<name>), in the form's order.
func Fields() []string {
	out := slices.Clone(links.FormFields)
	for _, k := range links.KYCKeys {
		out = append(out, "userKyc."+k)
	}
	return append(out, EmailField)
}

// aliases are other names accounting systems give the fields, normalised
// (see norm).
var aliases = map[string]string{
	"customer": "userId", "customerid": "userId", "customerno": "userId", "customernumber": "userId",
	"customerref": "userId", "clientid": "userId", "client": "userId", "accountid": "userId", "accountnumber": "userId",
	"user": "userId", "debtor": "userId", "debtorid": "userId",
	"customeremail": "userEmail", "emailaddress": "userEmail", "clientemail": "userEmail", "customeremailaddress": "userEmail",
	"mail": "userEmail", "billingemail": "userEmail", "useremailaddress": "userEmail",
	"country": "userCountryCode", "countrycode": "userCountryCode", "customercountry": "userCountryCode",
	"billingcountry": "userCountryCode",
	"ccy":            "currency", "currencycode": "currency", "cur": "currency",
	"total": "amount", "amountdue": "amount", "totaldue": "amount", "grandtotal": "amount", "invoicetotal": "amount",
	"invoiceamount": "amount", "sum": "amount", "balance": "amount", "balancedue": "amount", "totalamount": "amount",
	"invoice": "websiteReference", "invoicenumber": "websiteReference", "invoiceno": "websiteReference",
	"invoiceid": "websiteReference", "invoiceref": "websiteReference", "reference": "websiteReference",
	"ref": "websiteReference", "ordernumber": "websiteReference", "orderid": "websiteReference", "order": "websiteReference",
	"websiteref": "websiteReference", "documentnumber": "websiteReference",
	"notes": "note", "description": "note", "memo": "note", "comment": "note", "comments": "note",
	"sendemail": "email", "emailcustomer": "email", "emailit": "email", "emaillink": "email",
	"name": "userKyc.fullName", "fullname": "userKyc.fullName", "customername": "userKyc.fullName",
	"dateofbirth": "userKyc.dateOfBirth", "dob": "userKyc.dateOfBirth", "birthdate": "userKyc.dateOfBirth",
	"phone": "userKyc.mobilePhone", "mobile": "userKyc.mobilePhone", "mobilephone": "userKyc.mobilePhone",
	"address": "userKyc.residenceAddress", "citizenship": "userKyc.citizenshipCountryCode",
	"nationality": "userKyc.citizenshipCountryCode", "placeofbirth": "userKyc.placeOfBirth", "gender": "userKyc.gender",
}

// byNorm finds a field by its normalised name or an alias.
var byNorm = func() map[string]string {
	m := map[string]string{}
	for _, f := range Fields() {
		m[norm(f)] = f
		if k, ok := strings.CutPrefix(f, "userKyc."); ok {
			m[norm("kyc"+k)] = f
		}
	}
	for a, f := range aliases {
		if _, taken := m[a]; !taken {
			m[a] = f
		}
	}
	return m
}()

// norm is a header as compared: lower case, letters and digits only
// ("Invoice No." and "invoice_no" are both "invoiceno").
func norm(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			return unicode.ToLower(r)
		}
		return -1
	}, s)
}

// Mapping is, for each column of a file, the field it fills: one of
// Fields, custom.<name>, or "" (the column is left out).
type Mapping []string

// AutoMap matches each header to a field by name (ignoring case, spaces
// and punctuation) or alias. A field is taken by its first column only;
// a header starting "custom." becomes that custom field.
func AutoMap(headers []string) Mapping {
	m := make(Mapping, len(headers))
	taken := map[string]bool{}
	for i, h := range headers {
		f := ""
		if name, ok := cutPrefixFold(strings.TrimSpace(h), CustomPrefix); ok && strings.TrimSpace(name) != "" {
			f = CustomPrefix + strings.TrimSpace(name)
		} else {
			f = byNorm[norm(h)]
		}
		if f != "" && !taken[f] {
			m[i], taken[f] = f, true
		}
	}
	return m
}

func cutPrefixFold(s, prefix string) (string, bool) {
	if len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix) {
		return s[len(prefix):], true
	}
	return s, false
}

// Valid reports whether f is a field a column may be mapped to.
func Valid(f string) bool {
	if name, ok := strings.CutPrefix(f, CustomPrefix); ok {
		return strings.TrimSpace(name) != ""
	}
	return f == "" || slices.Contains(Fields(), f)
}

// Adjust is m with the user's choices applied: choice[i] is the field for
// column i ("" leaves it out); an unknown field is ignored. A field chosen
// for two columns keeps the first.
func (m Mapping) Adjust(choice map[int]string) Mapping {
	out := slices.Clone(m)
	for i, f := range choice {
		if i >= 0 && i < len(out) && Valid(f) {
			out[i] = f
		}
	}
	taken := map[string]bool{}
	for i, f := range out {
		if f == "" {
			continue
		}
		if taken[f] {
			out[i] = ""
		}
		taken[f] = true
	}
	return out
}

// Column is the column that fills f, or -1.
func (m Mapping) Column(f string) int { return slices.Index(m, f) }

// HeaderHash names a header layout: the same headers (as compared, in the
// same order) give the same hash, so a mapping chosen once is offered
// again next month.
func HeaderHash(headers []string) string {
	h := sha256.New()
	for _, s := range headers {
		h.Write([]byte(norm(s)))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil))[:32]
}

// FileHash is a file's SHA-256, to recognise it uploaded again.
func FileHash(data []byte) string {
	s := sha256.Sum256(data)
	return hex.EncodeToString(s[:])
}
