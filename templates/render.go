// Package templates renders every comment Atoll posts: plan and apply results, help,
// unlock answers and refusals. The Markdown lives in embedded text/template files
// (*.tmpl), rendered from the plain data structs of this package; no other package
// builds Markdown. Comments are plain Markdown without colour codes, so they read
// well on GitHub and as raw text in a notification email. Bodies longer than a
// comment allows are cut with Split.
//
// Golden files under testdata/ hold the expected rendering of every scenario;
// refresh them with `go test ./templates -update`.
package templates

import (
	"bytes"
	"embed"
	"fmt"
	"strings"
	"text/template"
)

//go:embed *.tmpl
var files embed.FS

// tmpl holds every template; parsed once, executed concurrently (text/template is
// safe for concurrent execution).
var tmpl = template.Must(template.New("atoll").Funcs(funcs).ParseFS(files, "*.tmpl"))

// Plan renders the comment for a plan run. c.Command is set to "plan".
func Plan(c Comment) (string, error) {
	c.Command = "plan"
	return render("plan", c)
}

// Apply renders the comment for an apply run. c.Command is set to "apply".
func Apply(c Comment) (string, error) {
	c.Command = "apply"
	return render("apply", c)
}

// Help renders the answer to `atoll help` or to a command Atoll could not parse.
func Help(h HelpData) (string, error) {
	return render("help", h)
}

// Unlock renders the answer to `atoll unlock`: which locks and plans were released.
func Unlock(u UnlockData) (string, error) {
	return render("unlock", u)
}

// Refused renders the answer to a command Atoll refused to run: which rule refused
// it and how to satisfy it.
func Refused(r RefusedData) (string, error) {
	return render("refused-command", r)
}

// render executes the named template and tidies the result.
func render(name string, data any) (string, error) {
	var b bytes.Buffer
	if err := tmpl.ExecuteTemplate(&b, name, data); err != nil {
		return "", fmt.Errorf("render %s comment: %w", name, err)
	}
	return tidy(b.String()), nil
}

// tidy removes what the templates' layout leaves behind, outside code blocks only:
// trailing spaces, runs of blank lines (kept to one) and blank lines at either end.
// The result ends with a single newline.
func tidy(s string) string {
	lines := strings.Split(s, "\n")
	out := make([]string, 0, len(lines))
	var st blocks
	for _, l := range lines {
		inside := st.inFence()
		st.feed(l)
		if inside {
			out = append(out, l)
			continue
		}
		l = strings.TrimRight(l, " \t")
		if l == "" && (len(out) == 0 || out[len(out)-1] == "") {
			continue
		}
		out = append(out, l)
	}
	for len(out) > 0 && out[len(out)-1] == "" {
		out = out[:len(out)-1]
	}
	return strings.Join(out, "\n") + "\n"
}
