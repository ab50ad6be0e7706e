package handlers

import (
	"net/url"
	"strconv"
)

func itoa(v int64) string { return strconv.FormatInt(v, 10) }

func parseURL(s string) (*url.URL, error) { return url.Parse(s) }

func urlQueryEscape(s string) string { return url.QueryEscape(s) }
