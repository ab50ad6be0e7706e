package handlers

import (
	"net/url"
	"strconv"
)

func itoa(v int64) string { return strconv.FormatInt(v, 10) }

func urlQueryEscape(s string) string { return url.QueryEscape(s) }
