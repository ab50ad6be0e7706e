package views

// DashboardPage is the signed-in home page: figures per period and
// currency, the paid-per-day chart and what needs attention.
type DashboardPage struct {
	Layout    Layout
	Periods   []PeriodFigures
	Chart     Chart
	Attention []AttentionItem
	NewURL    string // "" when the viewer may not create links
	AsOf      string // when the figures were worked out, "15:04:05 UTC"
}

// PeriodFigures is one period (today, 7 days, 30 days).
type PeriodFigures struct {
	Title string
	Rows  []CurrencyRow
}

// CurrencyRow is one currency's figures, amounts already formatted.
type CurrencyRow struct {
	Currency                                 string
	Created, Paid, Settled, Failed, Expired  int
	CreatedAmount, PaidAmount, SettledAmount string
}

// Chart is a bar chart drawn as SVG, with the same numbers as a table.
type Chart struct {
	Title    string
	Currency string
	Width    int
	Height   int
	Bars     []Bar
	MaxLabel string
}

// Bar is one day of the chart.
type Bar struct {
	X, Y, W, H int
	Day        string // "25 Nov"
	Amount     string // formatted
	Count      int
}

// AttentionItem is one line of "needs attention", linking to where it is fixed.
type AttentionItem struct {
	Text string
	URL  string
	Kind string // "bad", "warn", "info"
}
