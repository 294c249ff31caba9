package server

import (
	"flag"
	"fmt"
	"io"
	"regexp"
	"strings"
	"unicode"
)

// Command names of the state commands and of cancel. `atoll state rm` is
// Command{Name: CmdState}; "state" is also its name in --allow-commands and
// the team allowlist, as in Atlantis.
const (
	CmdImport = "import"
	CmdState  = "state"
	CmdCancel = "cancel"
)

// Limits on what a state command names, so one comment cannot make a command
// line of unbounded size.
const (
	maxStateAddresses = 20
	maxAddressLen     = 512
	maxImportIDLen    = 1024
)

// ImportExtraFlags and StateRmExtraFlags are the terraform flags a comment
// may pass to `atoll import` and `atoll state rm` after "--" (all take a
// value). -lock=false, -state and -backup are not among them: they would let a
// commenter skip terraform's state lock or write state elsewhere.
var (
	ImportExtraFlags  = []string{"-var", "-var-file", "-lock-timeout"}
	StateRmExtraFlags = []string{"-lock-timeout"}
)

// addressRe matches a terraform resource address: optional module path
// steps, then an optional "data.", a type and a name, each step with an
// optional index ([0] or ["key"]). Keys have no quote, backslash, backtick or
// control character.
var addressRe = regexp.MustCompile(`^(module\.[A-Za-z_][A-Za-z0-9_-]*(\[([0-9]{1,6}|"[^"\\` + "`" + `\x00-\x1f\x7f]*")\])?\.)*` +
	`(data\.)?[A-Za-z_][A-Za-z0-9_-]*\.[A-Za-z_][A-Za-z0-9_-]*(\[([0-9]{1,6}|"[^"\\` + "`" + `\x00-\x1f\x7f]*")\])?$`)

// moduleAddressRe matches a whole module's address (module.a, module.a[0].module.b),
// which `state rm` takes too.
var moduleAddressRe = regexp.MustCompile(`^module\.[A-Za-z_][A-Za-z0-9_-]*(\[([0-9]{1,6}|"[^"\\` + "`" + `\x00-\x1f\x7f]*")\])?` +
	`(\.module\.[A-Za-z_][A-Za-z0-9_-]*(\[([0-9]{1,6}|"[^"\\` + "`" + `\x00-\x1f\x7f]*")\])?)*$`)

// moduleStepsRe matches the module path at the start of an address, and
// indexRe an index ([0], ["key"]).
var (
	moduleStepsRe = regexp.MustCompile(`^(module\.[A-Za-z_][A-Za-z0-9_-]*(\[([0-9]{1,6}|"[^"]*")\])?\.)*`)
	indexRe       = regexp.MustCompile(`\[([0-9]{1,6}|"[^"]*")\]`)
)

// ValidAddress reports why addr is not a terraform resource address, or ""
// when it is one. module says whether a whole module's address is accepted.
func ValidAddress(addr string, module bool) string {
	switch {
	case addr == "":
		return "the resource address is empty"
	case strings.HasPrefix(addr, "-"):
		return fmt.Sprintf("%q is not a resource address (it starts with '-'; terraform flags go after --)", addr)
	case len(addr) > maxAddressLen:
		return fmt.Sprintf("the resource address is longer than %d characters", maxAddressLen)
	case moduleAddressRe.MatchString(addr):
		if module {
			return ""
		}
		return fmt.Sprintf("%q names a whole module; name one resource in it (module.NAME.TYPE.NAME)", addr)
	case addressRe.MatchString(addr):
		// The resource part is not a module step, nor data.NAME alone.
		rest := moduleStepsRe.ReplaceAllString(addr, "")
		if !strings.HasPrefix(rest, "data.") || strings.Count(indexRe.ReplaceAllString(rest, ""), ".") == 2 {
			return ""
		}
	}
	return fmt.Sprintf("%q is not a terraform resource address (TYPE.NAME, TYPE.NAME[0], TYPE.NAME[\"key\"], module.NAME.TYPE.NAME or data.TYPE.NAME)", addr)
}

// validImportID reports why id cannot be an import ID, or "".
func validImportID(id string) string {
	switch {
	case id == "":
		return "the resource ID is empty"
	case strings.HasPrefix(id, "-"):
		return fmt.Sprintf("the resource ID %q starts with '-', which terraform would read as a flag", id)
	case len(id) > maxImportIDLen:
		return fmt.Sprintf("the resource ID is longer than %d characters", maxImportIDLen)
	case strings.IndexFunc(id, unicode.IsControl) >= 0:
		return "the resource ID has a control character"
	}
	return ""
}

// parseStateCommand parses the arguments of `atoll import`, `atoll state` and
// `atoll cancel` (args after the command name, extra after "--") into cmd.
// Flags may come before, between or after the positional arguments, as in
// Atlantis (`atoll state -d dir rm ADDR` and `atoll state rm -d dir ADDR`).
func parseStateCommand(cmd Command, args, extra []string) (Command, error) {
	label := "atoll " + cmd.Name
	fs := flag.NewFlagSet(cmd.Name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	if cmd.Name != CmdCancel {
		fs.StringVar(&cmd.Dir, "d", "", "")
		fs.StringVar(&cmd.Workspace, "w", "", "")
		fs.StringVar(&cmd.Project, "p", "", "")
	}
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return Command{}, &CommandError{Msg: fmt.Sprintf("%s: %v", label, err)}
		}
		if fs.NArg() == 0 {
			break
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
	switch cmd.Name {
	case CmdCancel:
		if len(pos) > 0 {
			return Command{}, &CommandError{Msg: fmt.Sprintf("atoll cancel takes no arguments (it cancels every queued and running job of this pull request), got %q", pos[0])}
		}
		if len(extra) > 0 {
			return Command{}, &CommandError{Msg: "atoll cancel does not take terraform flags"}
		}
		return cmd, nil
	case CmdImport:
		if len(pos) != 2 {
			return Command{}, &CommandError{Msg: fmt.Sprintf("atoll import needs a resource address and a resource ID, got %d argument(s): atoll import [-d DIR] [-w WORKSPACE] [-p PROJECT] ADDRESS ID [-- -var NAME=VALUE]", len(pos))}
		}
		if msg := ValidAddress(pos[0], false); msg != "" {
			return Command{}, &CommandError{Msg: "atoll import: " + msg}
		}
		if msg := validImportID(pos[1]); msg != "" {
			return Command{}, &CommandError{Msg: "atoll import: " + msg}
		}
		cmd.Addresses, cmd.ImportID = []string{pos[0]}, pos[1]
	case CmdState:
		label = "atoll state rm"
		if len(pos) == 0 || pos[0] != "rm" {
			return Command{}, &CommandError{Msg: "atoll state: the only state command is rm: atoll state rm [-d DIR] [-w WORKSPACE] [-p PROJECT] ADDRESS..."}
		}
		pos = pos[1:]
		if len(pos) == 0 {
			return Command{}, &CommandError{Msg: "atoll state rm needs at least one resource address"}
		}
		if len(pos) > maxStateAddresses {
			return Command{}, &CommandError{Msg: fmt.Sprintf("atoll state rm takes at most %d addresses in one comment", maxStateAddresses)}
		}
		for _, a := range pos {
			if msg := ValidAddress(a, true); msg != "" {
				return Command{}, &CommandError{Msg: "atoll state rm: " + msg}
			}
		}
		cmd.Addresses = pos
	}
	if err := checkSelection(&cmd, label); err != nil {
		return Command{}, err
	}
	if len(extra) > 0 {
		allowed := ImportExtraFlags
		if cmd.Name == CmdState {
			allowed = StateRmExtraFlags
		}
		for _, a := range extra {
			if !strings.HasPrefix(a, "-") {
				continue // a value; normalizeExtraArgs pairs it with its flag
			}
			name, _, _ := strings.Cut(a, "=")
			if name = "-" + strings.TrimLeft(name, "-"); !contains(allowed, name) {
				return Command{}, &CommandError{Msg: fmt.Sprintf("%s: terraform flag %s is not allowed here; allowed: %s", label, name, strings.Join(allowed, ", "))}
			}
		}
		norm, err := normalizeExtraArgs(extra)
		if err != nil {
			return Command{}, &CommandError{Msg: label + ": " + err.Error()}
		}
		cmd.ExtraArgs = norm
	}
	return cmd, nil
}

// checkSelection validates and cleans -d, -w and -p of a state command.
func checkSelection(cmd *Command, label string) error {
	if cmd.Dir != "" {
		d, err := CleanDir(cmd.Dir)
		if err != nil {
			return &CommandError{Msg: fmt.Sprintf("%s: -d: %v", label, err)}
		}
		cmd.Dir = d
	}
	if cmd.Workspace != "" && !workspaceRe.MatchString(cmd.Workspace) {
		return &CommandError{Msg: fmt.Sprintf("%s: -w: %q is not a valid workspace name (letters, digits, '.', '_' and '-')", label, cmd.Workspace)}
	}
	if cmd.Project != "" && !projectRe.MatchString(cmd.Project) {
		return &CommandError{Msg: fmt.Sprintf("%s: -p: %q is not a valid project name", label, cmd.Project)}
	}
	if cmd.Dir != "" && cmd.Project != "" {
		return &CommandError{Msg: fmt.Sprintf("%s: use -p or -d, not both", label)}
	}
	return nil
}

// stateLabel is the command as users type it: "atoll state rm" for CmdState.
func stateLabel(cmd Command) string {
	if cmd.Name == CmdState {
		return "atoll state rm"
	}
	return "atoll " + cmd.Name
}
