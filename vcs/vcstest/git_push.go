package vcstest

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"net/http"
	"net/http/cgi"
	"slices"
	"strconv"
	"strings"
)

// maxPushBody caps a push request's (decompressed) body.
const maxPushBody = 64 << 20

// zeroID is the "old" object of a ref a push creates.
var zeroID = strings.Repeat("0", 40)

// servePush serves git push over smart HTTP for pushes that only create new
// branches, as a bot pushing a revert branch does. Updating or deleting a
// branch is refused: the fake's pull requests must keep matching their
// branches, and those change only through the Server's own methods. The
// request already carries a valid token (routes checked it).
func (s *Server) servePush(w http.ResponseWriter, r *http.Request) {
	h, ok := s.cgi.(*cgi.Handler)
	if !ok {
		http.Error(w, "pushing is not supported by this fake GitHub", http.StatusForbidden)
		return
	}
	push := *h
	push.Env = append(slices.Clone(h.Env), "REMOTE_USER=git",
		"GIT_CONFIG_COUNT=1", "GIT_CONFIG_KEY_0=http.receivepack", "GIT_CONFIG_VALUE_0=true")
	if r.Method == http.MethodGet { // the ref advertisement
		push.ServeHTTP(w, r)
		return
	}
	var body io.Reader = r.Body
	if r.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(r.Body)
		if err != nil {
			http.Error(w, "bad gzip body", http.StatusBadRequest)
			return
		}
		body = zr
	}
	data, err := io.ReadAll(io.LimitReader(body, maxPushBody+1))
	if err != nil || len(data) > maxPushBody {
		http.Error(w, "push body unreadable or too large", http.StatusBadRequest)
		return
	}
	owner, rest, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
	name, _, _ := strings.Cut(rest, ".git")
	gitDir := s.gitDir(owner, name)
	updates, err := pushCommands(data)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	s.gitMu.Lock()
	defer s.gitMu.Unlock()
	for _, u := range updates {
		branch, isBranch := strings.CutPrefix(u.ref, "refs/heads/")
		if !isBranch || u.old != zeroID {
			http.Error(w, "the fake GitHub accepts pushes that create new branches only ("+u.ref+")", http.StatusForbidden)
			return
		}
		if _, err := s.resolveBranch(r.Context(), gitDir, branch); err == nil {
			http.Error(w, "branch "+branch+" exists; the fake GitHub accepts pushes that create new branches only", http.StatusForbidden)
			return
		}
	}
	r2 := r.Clone(r.Context())
	r2.Header.Del("Content-Encoding")
	r2.Body = io.NopCloser(bytes.NewReader(data))
	r2.ContentLength = int64(len(data))
	r2.Header.Set("Content-Length", strconv.Itoa(len(data)))
	push.ServeHTTP(w, r2)
}

// refUpdate is one command of a push: move ref from old to new.
type refUpdate struct{ old, new, ref string }

// pushCommands reads the ref update commands at the start of a
// git-receive-pack request: pkt-lines "OLD NEW REF[\0capabilities]" up to
// a flush packet.
func pushCommands(data []byte) ([]refUpdate, error) {
	var out []refUpdate
	for {
		if len(data) < 4 {
			return nil, fmt.Errorf("truncated push request")
		}
		n, err := strconv.ParseUint(string(data[:4]), 16, 16)
		if err != nil {
			return nil, fmt.Errorf("bad pkt-line length %q", data[:4])
		}
		if n == 0 {
			return out, nil
		}
		if n < 4 || int(n) > len(data) {
			return nil, fmt.Errorf("bad pkt-line length %d", n)
		}
		line := string(data[4:n])
		data = data[n:]
		line, _, _ = strings.Cut(line, "\x00")
		f := strings.Fields(line)
		if len(f) != 3 {
			return nil, fmt.Errorf("bad push command %q", line)
		}
		out = append(out, refUpdate{old: f[0], new: f[1], ref: f[2]})
	}
}
