// Package redact removes secrets from text before it leaves Atoll: a PR
// comment, a job log, a web page or a log line.
//
// A Redactor knows the secret values Atoll holds (tokens, passwords, the
// GitHub App key) and replaces each of them, and each of a few forms they
// reach output in, with "[redacted]":
//
//   - the value itself, and the value with surrounding white space trimmed;
//   - its JSON- and Go-quoted forms and its URL-escaped form, when they differ
//     (a password with a quote or a slash in it, as terraform's JSON or a git
//     error shows it);
//   - its standard base64 encoding, also where the value sits at any offset
//     inside a longer base64 text (base64encode(file("/proc/self/environ")),
//     an HTTP Basic header);
//   - for a multi-line value such as a PEM key, each of its lines of 16 or
//     more characters, since a key can reach output line by line.
//
// Values shorter than 8 characters are ignored: they are too likely to match
// innocent text. Besides the registered values, a Redactor replaces every
// token-shaped string, known or not: GitHub tokens (ghp_, gho_, ghu_, ghs_,
// ghr_ and github_pat_ followed by 20 or more [A-Za-z0-9_] characters), AWS
// access key IDs (AKIA or ASIA followed by 16 [A-Z0-9] characters) and whole
// PEM private key blocks (-----BEGIN ... PRIVATE KEY----- to the matching END
// line, or to the end of the text when there is none).
//
// Overlapping and adjacent matches are merged into one "[redacted]", so no
// fragment of a secret survives between two of them. Redacting is one pass
// over the text whatever the number of secrets (see BenchmarkRedact8MiB).
package redact

import (
	"encoding/base64"
	"encoding/json"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"unicode/utf8"
	"unsafe"
)

// placeholder replaces every secret and token.
const placeholder = "[redacted]"

const (
	// minSecretLen is the length, in characters, under which a value is not
	// registered as a secret.
	minSecretLen = 8
	// minLineLen is the length, in characters, under which a line of a
	// multi-line secret is not redacted on its own.
	minLineLen = 16
)

// Redactor replaces secret values and token-shaped strings with
// "[redacted]". It is safe for concurrent use; Add may be called while
// others redact. The zero value redacts token shapes only, until Add gives it
// secrets. A nil *Redactor redacts token shapes only too.
type Redactor struct {
	mu      sync.Mutex          // serializes Add; guards secrets
	secrets map[string]struct{} // registered values
	// m matches every registered value and its forms; nil before the first
	// secret. Add replaces it; readers load it without locking.
	m atomic.Pointer[matcher]
}

// New returns a Redactor for secrets. Empty values and values shorter than
// 8 characters are ignored.
func New(secrets ...string) *Redactor {
	r := &Redactor{}
	r.Add(secrets...)
	return r
}

// Add registers more secrets, such as a GitHub App installation token minted
// after start-up. Empty values, values shorter than 8 characters and values
// already known are ignored. Text redacted after Add returns is redacted for
// them too. Secrets are never forgotten: each Add costs time and memory in
// proportion to all the secrets registered so far.
func (r *Redactor) Add(secrets ...string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var patterns []string
	for _, s := range secrets {
		if _, known := r.secrets[s]; known || utf8.RuneCountInString(s) < minSecretLen {
			continue
		}
		if r.secrets == nil {
			r.secrets = map[string]struct{}{}
		}
		r.secrets[s] = struct{}{}
		patterns = append(patterns, forms(s)...)
	}
	if len(patterns) > 0 {
		r.m.Store(r.m.Load().with(patterns))
	}
}

// String returns s with every secret and token-shaped string replaced by
// "[redacted]".
func (r *Redactor) String(s string) string {
	return redactText(r.matcher(), s)
}

// Bytes is String for a byte slice. It returns b itself, not a copy, when
// there is nothing to redact, and a new slice otherwise; b is never modified.
func (r *Redactor) Bytes(b []byte) []byte {
	// The scan only reads b and keeps no reference to it past this call.
	sp := find(r.matcher(), unsafe.String(unsafe.SliceData(b), len(b)), true)
	if len(sp) == 0 {
		return b
	}
	out := make([]byte, 0, len(b))
	last := 0
	for _, x := range sp {
		out = append(out, b[last:x.start]...)
		out = append(out, placeholder...)
		last = x.end
	}
	return append(out, b[last:]...)
}

// HasSecret reports whether s holds one of the registered secrets in any form
// String would redact (the value, an encoded or quoted form, one line of a
// multi-line secret). Token shapes alone do not count: they say nothing about
// whose token it is. The runner uses it to keep variables holding Atoll's
// secrets out of child processes' environments.
func (r *Redactor) HasSecret(s string) bool {
	return len(find(r.matcher(), s, false)) > 0
}

func (r *Redactor) matcher() *matcher {
	if r == nil {
		return nil
	}
	return r.m.Load()
}

// replace returns s with the spans replaced by the placeholder.
func replace(s string, sp []span) string {
	if len(sp) == 0 {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	last := 0
	for _, x := range sp {
		b.WriteString(s[last:x.start])
		b.WriteString(placeholder)
		last = x.end
	}
	b.WriteString(s[last:])
	return b.String()
}

// forms returns the strings to redact for secret s: see the package comment.
// Each is at least minSecretLen bytes long.
func forms(s string) []string {
	var out []string
	add := func(f string) {
		if len(f) >= minSecretLen && !slices.Contains(out, f) {
			out = append(out, f)
		}
	}
	for _, v := range []string{s, strings.TrimSpace(s)} {
		if utf8.RuneCountInString(v) < minSecretLen {
			continue
		}
		add(v)
		add(jsonQuoted(v, true))
		add(jsonQuoted(v, false))
		if q := strconv.Quote(v); len(q) >= 2 {
			add(q[1 : len(q)-1])
		}
		add(url.QueryEscape(v))
		add(url.PathEscape(v))
		add(base64.StdEncoding.EncodeToString([]byte(v)))
		// Inside a longer base64 text the value starts at one of three
		// offsets from a 3-byte group boundary; from the first boundary in
		// it, its whole groups always encode to the same characters.
		for k := 0; k < 3 && k < len(v); k++ {
			rest := v[k:]
			if n := len(rest) / 3 * 3; n >= 6 {
				add(base64.StdEncoding.EncodeToString([]byte(rest[:n])))
			}
		}
	}
	if strings.ContainsAny(s, "\r\n") {
		for line := range strings.FieldsFuncSeq(s, func(c rune) bool { return c == '\n' || c == '\r' }) {
			if line = strings.TrimSpace(line); utf8.RuneCountInString(line) >= minLineLen {
				add(line)
			}
		}
	}
	return out
}

// jsonQuoted is s as it appears inside a JSON string, with or without
// encoding/json's HTML escaping.
func jsonQuoted(s string, escapeHTML bool) string {
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(escapeHTML)
	if err := enc.Encode(s); err != nil {
		return ""
	}
	q := strings.TrimSuffix(b.String(), "\n")
	if len(q) < 2 {
		return ""
	}
	return q[1 : len(q)-1]
}
