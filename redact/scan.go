package redact

import (
	"slices"
	"strings"
)

// span is a half-open byte range [start, end) of the text to replace.
type span struct{ start, end int }

// matcher finds the registered strings (all at least 8 bytes long) in one
// pass: at every offset it hashes the next 8 bytes, tests the hash against a
// small bitset and, only on a hit, looks the 8 bytes up in a map of the
// strings starting with them.
type matcher struct {
	filter [filterBits / 64]uint64
	// byPrefix maps the first 8 bytes of each pattern (little-endian) to the
	// patterns starting with them, longest first.
	byPrefix map[uint64][]string
}

// filterBits is the size of the bitset: 8 KiB, so it stays in L1 cache.
const filterBits = 1 << 16

func filterHash(w uint64) uint64 { return (w * 0x9E3779B97F4A7C15) >> 48 }

// with returns a matcher for m's patterns (none when m is nil) and patterns,
// each at least 8 bytes long. m is not changed: readers may be using it.
func (m *matcher) with(patterns []string) *matcher {
	out := &matcher{byPrefix: map[uint64][]string{}}
	if m != nil {
		out.filter = m.filter
		for w, ps := range m.byPrefix {
			out.byPrefix[w] = ps
		}
	}
	for _, p := range patterns {
		w := load64(p, 0)
		h := filterHash(w)
		out.filter[h/64] |= 1 << (h % 64)
		ps := out.byPrefix[w]
		if slices.Contains(ps, p) {
			continue
		}
		// A new slice: the old one may be m's.
		ps = append(slices.Clip(ps), p)
		slices.SortFunc(ps, func(a, b string) int { return len(b) - len(a) })
		out.byPrefix[w] = ps
	}
	return out
}

func load64(s string, i int) uint64 {
	_ = s[i+7]
	return uint64(s[i]) | uint64(s[i+1])<<8 | uint64(s[i+2])<<16 | uint64(s[i+3])<<24 |
		uint64(s[i+4])<<32 | uint64(s[i+5])<<40 | uint64(s[i+6])<<48 | uint64(s[i+7])<<56
}

// Byte classes of the token shapes.
var (
	wordChar  [256]bool // [A-Za-z0-9_]
	upperNum  [256]bool // [A-Z0-9]
	labelChar [256]bool // [A-Z0-9 ], in a PEM header's label
)

func init() {
	for c := 0; c < 256; c++ {
		upper, lower, digit := 'A' <= c && c <= 'Z', 'a' <= c && c <= 'z', '0' <= c && c <= '9'
		wordChar[c] = upper || lower || digit || c == '_'
		upperNum[c] = upper || digit
		labelChar[c] = upper || digit || c == ' '
	}
}

// find returns the merged, ordered spans of s to replace: the matches of m
// (nil for none) and, when shapes is set, of the token shapes.
func find(m *matcher, s string, shapes bool) []span {
	var out []span
	add := func(start, end int) {
		if n := len(out); n > 0 && start <= out[n-1].end {
			out[n-1].end = max(out[n-1].end, end)
			return
		}
		out = append(out, span{start, end})
	}
	// A token or PEM block found at i covers every shape that starts inside
	// it and ends at or before its end: skipping those keeps a long run of
	// "ghp_ghp_..." or of BEGIN lines linear.
	tokenEnd, pemEnd := 0, 0
	n := len(s)
	var w uint64
	if m != nil && n >= 8 {
		w = load64(s, 0)
	}
	for i := 0; i < n; i++ {
		if m != nil && i+8 <= n {
			if h := filterHash(w); m.filter[h/64]&(1<<(h%64)) != 0 {
				for _, p := range m.byPrefix[w] {
					if strings.HasPrefix(s[i:], p) {
						add(i, i+len(p))
						break
					}
				}
			}
			if i+8 < n {
				w = w>>8 | uint64(s[i+8])<<56
			}
		}
		if !shapes {
			continue
		}
		switch s[i] {
		case 'g':
			if i >= tokenEnd {
				if end := githubToken(s, i); end > 0 {
					add(i, end)
					tokenEnd = end
				}
			}
		case 'A':
			if end := awsKeyID(s, i); end > 0 {
				add(i, end)
			}
		case '-':
			if i >= pemEnd {
				if end := pemBlock(s, i); end > 0 {
					add(i, end)
					pemEnd = end
				}
			}
		}
	}
	return out
}

// githubToken returns the end of the GitHub token starting at s[i], or 0.
func githubToken(s string, i int) int {
	rest := s[i:]
	switch {
	case len(rest) >= 4 && rest[1] == 'h' && rest[3] == '_' && strings.IndexByte("pousr", rest[2]) >= 0:
		// ghp_ and friends: 36 base62 characters after the prefix. An
		// underscore or a short run is a name such as ghr_runner_group or
		// highs_and_lows, not a token.
		end := i + 4
		for end < len(s) && wordChar[s[end]] && s[end] != '_' {
			end++
		}
		if end-(i+4) < 30 || (end < len(s) && s[end] == '_') {
			return 0
		}
		return end
	case strings.HasPrefix(rest, "github_pat_"):
		body := i + len("github_pat_")
		end := body
		for end < len(s) && wordChar[s[end]] {
			end++
		}
		if end-body < 22 {
			return 0
		}
		return end
	}
	return 0
}

// awsKeyID returns the end of the AWS access key ID starting at s[i], or 0.
func awsKeyID(s string, i int) int {
	if i+20 > len(s) || !(strings.HasPrefix(s[i:], "AKIA") || strings.HasPrefix(s[i:], "ASIA")) {
		return 0
	}
	for j := i + 4; j < i+20; j++ {
		if !upperNum[s[j]] {
			return 0
		}
	}
	return i + 20
}

// pemBlock returns the end of the PEM private key block starting at s[i]:
// after its END line, or len(s) when it has none. It returns 0 when s[i:]
// does not start with a private key's BEGIN line.
func pemBlock(s string, i int) int {
	from, ok := pemLine(s, i, "-----BEGIN ")
	if !ok {
		return 0
	}
	for {
		k := strings.Index(s[from:], "-----END ")
		if k < 0 {
			return len(s)
		}
		if end, ok := pemLine(s, from+k, "-----END "); ok {
			return end
		}
		from += k + len("-----END ")
	}
}

// pemLine reports whether s[i:] starts with intro, a label holding "PRIVATE
// KEY" ("RSA PRIVATE KEY", "OPENSSH PRIVATE KEY", "PGP PRIVATE KEY BLOCK")
// and "-----", and returns the end of that.
func pemLine(s string, i int, intro string) (int, bool) {
	if !strings.HasPrefix(s[i:], intro) {
		return 0, false
	}
	j := i + len(intro)
	for j < len(s) && labelChar[s[j]] {
		j++
	}
	if !strings.Contains(s[i+len(intro):j], "PRIVATE KEY") || !strings.HasPrefix(s[j:], "-----") {
		return 0, false
	}
	return j + len("-----"), true
}
