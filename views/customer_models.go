package views

// CustomerPage is what a customer sees when StableMint sends them back.
type CustomerPage struct {
	Layout  Layout
	Title   string
	Message string
}

// Brand is the merchant's brand as pages show it: customer pages in full,
// the staff header its name and logo. Every URL is built by the handler.
type Brand struct {
	Company      string
	Named        bool   // an admin saved the company name (Company is not the first-run default)
	LogoURL      string // "" when there is no logo
	ThemeURL     string // the accent colour's stylesheet; "" for the default
	SupportEmail string
	SupportURL   string
}
