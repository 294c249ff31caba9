package server

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"path"
	"regexp"
	"strings"
	"unicode"
)

// Command names a PR comment can run.
const (
	CmdPlan   = "plan"
	CmdApply  = "apply"
	CmdUnlock = "unlock"
	CmdHelp   = "help"
	// CmdApprovePolicies lets a policy owner approve failing policy checks.
	CmdApprovePolicies = "approve_policies"
	// CmdRevert opens a pull request that reverts a merged one.
	CmdRevert = "revert"
)

// Command is a parsed `atoll ...` PR comment.
type Command struct {
	// Name is one of the Cmd* constants.
	Name string
	// Dir, Workspace and Project narrow the command (-d, -w, -p).
	Dir       string
	Workspace string
	Project   string
	// Verbose asks for the full output of every step in the comment.
	Verbose bool
	// ExtraArgs are terraform flags after "--", normalised to "-flag=value" and
	// checked against AllowedExtraFlags.
	ExtraArgs []string
	// Raw is the comment's command line, for COMMENT_ARGS and logs.
	Raw string
	// Addresses are the resource addresses of `atoll import` (one) and
	// `atoll state rm`; ImportID is the provider's ID of the resource to
	// import. See command_state.go.
	Addresses []string `json:",omitempty"`
	ImportID  string   `json:",omitempty"`
}

// CommandError is a comment that names Atoll but is not a valid command. Its
// message is safe to show on the PR.
type CommandError struct{ Msg string }

func (e *CommandError) Error() string { return e.Msg }

// errNotCommand means the comment is not addressed to Atoll at all.
var errNotCommand = errors.New("not an atoll command")

// AllowedExtraFlags are the terraform flags a comment may pass after "--".
// Flags that take a value are marked true. Anything else is refused: flags such
// as -state, -chdir or -plugin-dir would let a commenter escape the reviewed plan.
var AllowedExtraFlags = map[string]bool{
	"-var":          true,
	"-var-file":     true,
	"-target":       true,
	"-replace":      true,
	"-refresh":      true, // -refresh=false
	"-destroy":      false,
	"-refresh-only": false,
	"-parallelism":  true,
	"-lock-timeout": true,
}

// AllowedExtraFlagNames returns the allowlist sorted, for help text.
func AllowedExtraFlagNames() []string {
	return []string{"-var", "-var-file", "-target", "-replace", "-refresh=false", "-destroy", "-refresh-only", "-parallelism", "-lock-timeout"}
}

var (
	workspaceRe = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9._-]{0,89}$`)
	// projectRe matches what config accepts as a project name (no whitespace),
	// minus control characters and a leading "-".
	projectRe = regexp.MustCompile(`^[^\s\x00-\x1f\x7f-][^\s\x00-\x1f\x7f]{0,127}$`)
	numberRe  = regexp.MustCompile(`^[0-9]{1,6}$`)
)

// ParseCommand parses a comment body. executables are the accepted first words
// ("atoll", "atlantis"). It returns errNotCommand for comments not addressed to
// Atoll and a *CommandError for malformed ones.
func ParseCommand(body string, executables []string) (Command, error) {
	line := strings.TrimSpace(body)
	// Only the first line is the command; GitHub sends \r\n.
	if i := strings.IndexAny(line, "\r\n"); i >= 0 {
		rest := strings.TrimSpace(line[i:])
		line = strings.TrimSpace(line[:i])
		if rest != "" && isExecutable(firstWord(line), executables) {
			return Command{}, &CommandError{Msg: "a command must be a single line; put each command in its own comment"}
		}
	}
	if !isExecutable(firstWord(line), executables) {
		return Command{}, errNotCommand
	}
	words, err := splitWords(line)
	if err != nil {
		return Command{}, &CommandError{Msg: err.Error()}
	}
	if len(words) < 2 {
		return Command{Name: CmdHelp, Raw: line}, nil
	}
	cmd := Command{Name: words[1], Raw: line}
	args := words[2:]
	var extra []string
	for i, a := range args {
		if a == "--" {
			extra = args[i+1:]
			args = args[:i]
			break
		}
	}
	switch cmd.Name {
	case CmdHelp, "--help", "-h":
		cmd.Name = CmdHelp
		return cmd, nil
	case CmdRevert:
		if len(args) > 0 || extra != nil {
			return Command{}, &CommandError{Msg: "atoll revert takes no arguments: it reverts the whole merged pull request"}
		}
		return cmd, nil
	case CmdPlan, CmdApply, CmdUnlock, CmdApprovePolicies:
	case CmdImport, CmdState, CmdCancel:
		return parseStateCommand(cmd, args, extra)
	default:
		return Command{}, &CommandError{Msg: fmt.Sprintf("unknown command %q", cmd.Name)}
	}
	fs := flag.NewFlagSet(cmd.Name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&cmd.Dir, "d", "", "")
	fs.StringVar(&cmd.Workspace, "w", "", "")
	if cmd.Name == CmdPlan || cmd.Name == CmdApply || cmd.Name == CmdApprovePolicies {
		fs.StringVar(&cmd.Project, "p", "", "")
	}
	if cmd.Name == CmdPlan || cmd.Name == CmdApply {
		fs.BoolVar(&cmd.Verbose, "verbose", false, "")
	}
	if err := fs.Parse(args); err != nil {
		return Command{}, &CommandError{Msg: fmt.Sprintf("atoll %s: %v", cmd.Name, err)}
	}
	if fs.NArg() > 0 {
		return Command{}, &CommandError{Msg: fmt.Sprintf("atoll %s: unexpected argument %q (terraform flags go after --)", cmd.Name, fs.Arg(0))}
	}
	if cmd.Dir != "" {
		d, err := CleanDir(cmd.Dir)
		if err != nil {
			return Command{}, &CommandError{Msg: fmt.Sprintf("atoll %s: -d: %v", cmd.Name, err)}
		}
		cmd.Dir = d
	}
	if cmd.Workspace != "" && !workspaceRe.MatchString(cmd.Workspace) {
		return Command{}, &CommandError{Msg: fmt.Sprintf("atoll %s: -w: %q is not a valid workspace name (letters, digits, '.', '_' and '-')", cmd.Name, cmd.Workspace)}
	}
	if cmd.Project != "" && !projectRe.MatchString(cmd.Project) {
		return Command{}, &CommandError{Msg: fmt.Sprintf("atoll %s: -p: %q is not a valid project name", cmd.Name, cmd.Project)}
	}
	if cmd.Dir != "" && cmd.Project != "" {
		return Command{}, &CommandError{Msg: fmt.Sprintf("atoll %s: use -p or -d, not both", cmd.Name)}
	}
	if cmd.Name == CmdUnlock && (cmd.Dir == "") != (cmd.Workspace == "") && cmd.Workspace != "" {
		return Command{}, &CommandError{Msg: "atoll unlock: -w needs -d"}
	}
	if len(extra) > 0 {
		if cmd.Name != CmdPlan {
			return Command{}, &CommandError{Msg: fmt.Sprintf("atoll %s does not take terraform flags: apply runs exactly the reviewed plan, so put flags on atoll plan", cmd.Name)}
		}
		norm, err := normalizeExtraArgs(extra)
		if err != nil {
			return Command{}, &CommandError{Msg: "atoll plan: " + err.Error()}
		}
		cmd.ExtraArgs = norm
	}
	return cmd, nil
}

func firstWord(s string) string {
	if i := strings.IndexFunc(s, unicode.IsSpace); i >= 0 {
		return s[:i]
	}
	return s
}

func isExecutable(w string, executables []string) bool {
	for _, e := range executables {
		if w == e {
			return true
		}
	}
	return false
}

// normalizeExtraArgs checks terraform flags against AllowedExtraFlags and returns
// them as "-flag=value" (or "-flag" for booleans).
func normalizeExtraArgs(in []string) ([]string, error) {
	var out []string
	for i := 0; i < len(in); i++ {
		a := in[i]
		if !strings.HasPrefix(a, "-") {
			return nil, fmt.Errorf("unexpected argument %q after --: only terraform flags are allowed", a)
		}
		name, value, hasValue := strings.Cut(a, "=")
		name = "-" + strings.TrimLeft(name, "-")
		takesValue, ok := AllowedExtraFlags[name]
		if !ok {
			return nil, fmt.Errorf("terraform flag %s is not allowed in comments; allowed: %s", name, strings.Join(AllowedExtraFlagNames(), ", "))
		}
		if takesValue && !hasValue {
			if i+1 >= len(in) {
				return nil, fmt.Errorf("terraform flag %s needs a value", name)
			}
			i++
			value, hasValue = in[i], true
		}
		if !takesValue && hasValue {
			return nil, fmt.Errorf("terraform flag %s takes no value", name)
		}
		switch name {
		case "-var-file":
			if _, err := CleanDir(value); err != nil {
				return nil, fmt.Errorf("-var-file: %w", err)
			}
		case "-refresh":
			if value != "true" && value != "false" {
				return nil, fmt.Errorf("-refresh must be true or false")
			}
		case "-parallelism":
			if !numberRe.MatchString(value) {
				return nil, fmt.Errorf("-parallelism must be a number")
			}
		}
		if strings.ContainsAny(value, "\x00\r\n") {
			return nil, fmt.Errorf("terraform flag %s: value has a control character", name)
		}
		if hasValue {
			out = append(out, name+"="+value)
		} else {
			out = append(out, name)
		}
	}
	return out, nil
}

// CleanDir validates a directory or file path given in a comment or config: it must
// be relative, stay inside the repository, and have no control characters. It
// returns the cleaned path ("." for the root). Symlinks are checked by the runner
// against the real checkout.
func CleanDir(p string) (string, error) {
	if p == "" {
		return "", errors.New("empty path")
	}
	for _, r := range p {
		if unicode.IsControl(r) {
			return "", fmt.Errorf("path %q has a control character", p)
		}
	}
	if strings.ContainsAny(p, "`<>") {
		return "", fmt.Errorf("path %q has a character Atoll does not accept (` < >)", p)
	}
	if strings.Contains(p, `\`) {
		return "", fmt.Errorf("path %q: use / as the separator", p)
	}
	if path.IsAbs(p) {
		return "", fmt.Errorf("path %q must be relative to the repository root", p)
	}
	c := path.Clean(p)
	if c == ".." || strings.HasPrefix(c, "../") {
		return "", fmt.Errorf("path %q leaves the repository", p)
	}
	return c, nil
}

// splitWords splits a command line into words, honouring single and double quotes
// and backslash escapes, like a POSIX shell without expansion.
func splitWords(s string) ([]string, error) {
	var (
		words []string
		cur   strings.Builder
		in    bool // a word is in progress
		quote rune
	)
	rs := []rune(s)
	for i := 0; i < len(rs); i++ {
		r := rs[i]
		switch {
		case quote != 0:
			if r == quote {
				quote = 0
			} else if r == '\\' && quote == '"' && i+1 < len(rs) && (rs[i+1] == '"' || rs[i+1] == '\\') {
				i++
				cur.WriteRune(rs[i])
			} else {
				cur.WriteRune(r)
			}
		case r == '\'' || r == '"':
			quote, in = r, true
		case r == '\\' && i+1 < len(rs):
			i++
			cur.WriteRune(rs[i])
			in = true
		case unicode.IsSpace(r):
			if in {
				words = append(words, cur.String())
				cur.Reset()
				in = false
			}
		default:
			cur.WriteRune(r)
			in = true
		}
	}
	if quote != 0 {
		return nil, fmt.Errorf("unterminated %c quote", quote)
	}
	if in {
		words = append(words, cur.String())
	}
	return words, nil
}
