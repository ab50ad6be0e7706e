package main

import (
	"fmt"
	"io"
	"net/url"
	"strconv"
	"strings"
	"unicode"
)

// configCmd is `paylinks config`: every setting with its default and
// meaning, and the value of each one that is set (secrets never shown).
// Then it checks the settings as serve would, reporting every problem.
func configCmd(getenv func(string) string, args []string, stdout io.Writer) error {
	if len(args) > 0 {
		return fmt.Errorf("config: takes no arguments; %w", errUsage)
	}
	fmt.Fprintln(stdout, "paylinks reads these environment variables (see docs/operations.md):")
	for _, s := range settings {
		fmt.Fprintf(stdout, "\n%s\n", s.Name)
		fmt.Fprintf(stdout, "    default  %s\n", plain(s.shownDefault()))
		if v := strings.TrimSpace(getenv(s.Name)); v != "" {
			shown := printable(v)
			if s.show != nil {
				shown = s.show(v)
			}
			if s.Needs != "" && strings.TrimSpace(getenv(s.Needs)) == "" {
				shown += " (ignored: " + s.Needs + " is not set)"
			}
			fmt.Fprintf(stdout, "    set      %s\n", shown)
		}
		for _, line := range wrap(plain(s.Doc), 72) {
			fmt.Fprintf(stdout, "    %s\n", line)
		}
	}
	fmt.Fprintln(stdout)
	if _, err := loadConfig(getenv); err != nil {
		return err
	}
	fmt.Fprintln(stdout, "No problems found.")
	return nil
}

// shownDefault is the default as the docs table lists it, in Markdown.
func (s setting) shownDefault() string {
	switch {
	case s.Shown != "":
		return s.Shown
	case s.Default != "":
		return "`" + s.Default + "`"
	}
	return "none"
}

// plain drops Markdown's code backticks.
func plain(md string) string { return strings.ReplaceAll(md, "`", "") }

// hidden shows that a secret is set, never what it is.
func hidden(string) string { return "(hidden)" }

// redactURLPassword shows a URL with its password, if any, masked; a value
// that does not parse is hidden, since it may hold one anywhere.
func redactURLPassword(v string) string {
	u, err := url.Parse(v)
	if err != nil {
		return hidden(v)
	}
	return printable(u.Redacted())
}

// printable quotes a value with control or other invisible characters.
func printable(v string) string {
	if strings.ContainsFunc(v, func(r rune) bool { return !unicode.IsPrint(r) }) {
		return strconv.Quote(v)
	}
	return v
}

// wrap breaks text into lines of at most width bytes, at spaces.
func wrap(text string, width int) []string {
	var lines []string
	line := ""
	for _, w := range strings.Fields(text) {
		if line != "" && len(line)+1+len(w) > width {
			lines = append(lines, line)
			line = ""
		}
		if line != "" {
			line += " "
		}
		line += w
	}
	if line != "" {
		lines = append(lines, line)
	}
	return lines
}
