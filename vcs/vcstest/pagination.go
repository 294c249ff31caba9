package vcstest

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
)

// Page sizes, as GitHub's REST API has them.
const (
	defaultPerPage = 30
	maxPerPage     = 100
)

// paginate returns the page of items the request asks for with its page and
// per_page parameters (default 30, at most 100) and sets GitHub's Link header
// with rel="next", "last", "first" and "prev" as they apply. The result is
// never nil, so it encodes as a JSON array.
func paginate[T any](w http.ResponseWriter, r *http.Request, items []T) []T {
	q := r.URL.Query()
	perPage := defaultPerPage
	if v, err := strconv.Atoi(q.Get("per_page")); err == nil && v > 0 {
		perPage = min(v, maxPerPage)
	}
	page := 1
	if v, err := strconv.Atoi(q.Get("page")); err == nil && v > 0 {
		page = v
	}
	last := max(1, (len(items)+perPage-1)/perPage)

	var links []string
	link := func(p int, rel string) {
		lq := r.URL.Query()
		lq.Set("page", strconv.Itoa(p))
		if lq.Has("per_page") {
			lq.Set("per_page", strconv.Itoa(perPage))
		}
		links = append(links, fmt.Sprintf(`<http://%s%s?%s>; rel="%s"`, r.Host, r.URL.EscapedPath(), lq.Encode(), rel))
	}
	if page > 1 {
		link(min(page-1, last), "prev")
	}
	if page < last {
		link(page+1, "next")
		link(last, "last")
	}
	if page > 1 {
		link(1, "first")
	}
	if len(links) > 0 {
		w.Header().Set("Link", strings.Join(links, ", "))
	}

	start := (page - 1) * perPage
	if start >= len(items) {
		return []T{}
	}
	return items[start:min(start+perPage, len(items))]
}
