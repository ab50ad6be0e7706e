package views

// CustomerPage is what a customer sees when StableMint sends them back.
type CustomerPage struct {
	Layout  Layout
	Title   string
	Message string
}
