package views

// DashboardPage is the signed-in home page: figures per period and
// currency, the paid-per-day chart and what needs attention.
type DashboardPage struct {
	Layout    Layout
	Periods   []PeriodFigures
	Chart     Chart
	Attention []AttentionItem
	// Outstanding is, per currency, what open and processing links are
	// waiting for; Expiring says how many open links run out within a day
	// (Text "" when none): information, not something to fix.
	Outstanding []OutstandingRow
	Expiring    AttentionItem
	NewURL      string // "" when the viewer may not create links
	AsOf        string // when the figures were worked out, "15:04:05 UTC"
	// Key is the key figures of Currency, the one the chart draws too;
	// Currencies are those with figures, for the picker, a GET form to
	// Action. CurrencyNotice says a currency asked for has no figures.
	Key            KeyFigures
	Currency       string
	Currencies     []string
	CurrencyNotice string
	Action         string
}

// KeyFigures are one currency's figures at the top of the dashboard, each
// with a line saying what it counted (or why there is nothing).
type KeyFigures struct {
	Currency string
	// Outstanding: open + processing links now.
	OutstandingOpen, OutstandingProcessing int
	OutstandingAmount, OutstandingNote     string
	// Collected: paid + settled amount of the links paid since the 1st of
	// the month (UTC), CollectedSince says it: "1 Dec (UTC)".
	CollectedAmount, CollectedNote, CollectedSince string
	// PaidRate: paid ÷ (paid + failed + expired) over the last 30 days,
	// "92.5 %" or "—".
	PaidRate, PaidRateNote string
	// MedianPayTime: created → paid, links paid in the last 30 days,
	// "2 h 10 min" (MedianAbout: shown as "about 2 h 10 min") or "—".
	MedianPayTime, MedianNote string
	MedianAbout               bool
}

// PeriodFigures is one period (today, 7 days, 30 days).
type PeriodFigures struct {
	Title string
	Rows  []CurrencyRow
}

// CurrencyRow is one currency's figures, amounts already formatted.
type CurrencyRow struct {
	Currency                                           string
	Created, Paid, Settled, Failed, Expired, Cancelled int
	CreatedAmount, PaidAmount, SettledAmount           string
}

// OutstandingRow is one currency's open and processing links now.
type OutstandingRow struct {
	Currency         string
	Open, Processing int
	Amount           string // both together, formatted
}

// Chart is a bar chart drawn as SVG, with the same numbers as a table.
type Chart struct {
	Title    string
	Currency string
	Width    int
	Height   int
	Bars     []Bar
	MaxLabel string
	// The y axis: gridlines at the top of the scale, its middle and zero,
	// each labelled with its amount (YTop, YMid, "0" formatted), and the
	// x axis's dates under the first, middle and last bar.
	YTop, YMid, YZero string
	MidY              int // the middle gridline's y
	XDates            [3]string
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
