package outbox

import (
	"github.com/paylinks/paylinks/db"
	"github.com/paylinks/paylinks/mail"
)

// BrandOf is the brand customer emails carry, from the settings: the saved
// company name, or firstRunCompany (PAYLINKS_COMPANY_NAME) while none was
// saved. The pages' emails and the reminder job both read it here.
func BrandOf(st db.Settings, firstRunCompany string) mail.Brand {
	b := mail.Brand{Company: st.CompanyName, SupportEmail: st.SupportEmail, SupportURL: st.SupportPageURL, Accent: st.AccentColor}
	if b.Company == "" {
		b.Company = firstRunCompany
	}
	return b
}
