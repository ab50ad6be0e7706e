package views

import (
	"reflect"
	"testing"
)

func TestProseSpans(t *testing.T) {
	for _, c := range []struct {
		in   string
		want []ProseSpan
	}{
		{"plain", []ProseSpan{{Text: "plain"}}},
		{"send `amount` as text", []ProseSpan{{Text: "send "}, {Text: "amount", Code: true}, {Text: " as text"}}},
		{"at **Admin → API keys**, as `Bearer pl_live_…`.", []ProseSpan{{Text: "at "}, {Text: "Admin → API keys", Strong: true},
			{Text: ", as "}, {Text: "Bearer pl_live_…", Code: true}, {Text: "."}}},
		{"a `**` inside code", []ProseSpan{{Text: "a "}, {Text: "**", Code: true}, {Text: " inside code"}}},
		{"left `open", []ProseSpan{{Text: "left `open"}}},
		{"left **open", []ProseSpan{{Text: "left **open"}}},
		{"", nil},
	} {
		if got := ProseSpans(c.in); !reflect.DeepEqual(got, c.want) {
			t.Errorf("ProseSpans(%q) = %+v, want %+v", c.in, got, c.want)
		}
	}
}
