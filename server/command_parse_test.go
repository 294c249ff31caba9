package server

import (
	"errors"
	"path"
	"strings"
	"testing"
	"unicode"

	"github.com/google/go-cmp/cmp"
)

var testExecutables = []string{"atoll", "atlantis"}

func TestParseCommand(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		body    string
		want    Command
		wantErr string // substring of a *CommandError; "" = success
		notCmd  bool
	}{
		{name: "plan", body: "atoll plan", want: Command{Name: CmdPlan, Raw: "atoll plan"}},
		{name: "atlantis alias", body: "atlantis apply -d net", want: Command{Name: CmdApply, Dir: "net", Raw: "atlantis apply -d net"}},
		{name: "bare is help", body: "atoll", want: Command{Name: CmdHelp, Raw: "atoll"}},
		{name: "help", body: "atoll help", want: Command{Name: CmdHelp, Raw: "atoll help"}},
		{name: "trailing whitespace and crlf", body: "  atoll plan -d network  \r\n", want: Command{Name: CmdPlan, Dir: "network", Raw: "atoll plan -d network"}},
		{name: "all flags", body: "atoll plan -d a/b/ -w staging --verbose", want: Command{Name: CmdPlan, Dir: "a/b", Workspace: "staging", Verbose: true, Raw: "atoll plan -d a/b/ -w staging --verbose"}},
		{name: "project", body: "atoll apply -p web", want: Command{Name: CmdApply, Project: "web", Raw: "atoll apply -p web"}},
		{name: "unlock one", body: "atoll unlock -d net -w default", want: Command{Name: CmdUnlock, Dir: "net", Workspace: "default", Raw: "atoll unlock -d net -w default"}},
		{name: "extra args", body: `atoll plan -d net -- -var "name=a b" -target=terraform_data.web -refresh=false -destroy`,
			want: Command{Name: CmdPlan, Dir: "net", ExtraArgs: []string{"-var=name=a b", "-target=terraform_data.web", "-refresh=false", "-destroy"},
				Raw: `atoll plan -d net -- -var "name=a b" -target=terraform_data.web -refresh=false -destroy`}},
		{name: "var-file inside", body: "atoll plan -- -var-file=env/prod.tfvars", want: Command{Name: CmdPlan, ExtraArgs: []string{"-var-file=env/prod.tfvars"}, Raw: "atoll plan -- -var-file=env/prod.tfvars"}},
		{name: "not a command", body: "LGTM, ship it", notCmd: true},
		{name: "mention mid-text", body: "please run atoll plan", notCmd: true},
		{name: "prefix word", body: "atollx plan", notCmd: true},
		{name: "unknown command", body: "atoll destroy", wantErr: `unknown command "destroy"`},
		{name: "dotdot dir", body: "atoll plan -d ../etc", wantErr: "leaves the repository"},
		{name: "dotdot hidden", body: "atoll plan -d a/../../x", wantErr: "leaves the repository"},
		{name: "absolute dir", body: "atoll plan -d /etc", wantErr: "must be relative"},
		{name: "bad workspace", body: "atoll plan -w 'a b'", wantErr: "not a valid workspace"},
		{name: "workspace slash", body: "atoll plan -w ../x", wantErr: "not a valid workspace"},
		{name: "unknown flag", body: "atoll plan -x", wantErr: "flag provided but not defined"},
		{name: "stray arg", body: "atoll plan network", wantErr: `unexpected argument "network"`},
		{name: "disallowed tf flag", body: "atoll plan -- -state=/tmp/x", wantErr: "-state is not allowed"},
		{name: "chdir refused", body: "atoll plan -- -chdir=/", wantErr: "-chdir is not allowed"},
		{name: "var-file escape", body: "atoll plan -- -var-file=../../secrets.tfvars", wantErr: "leaves the repository"},
		{name: "apply extra args refused", body: "atoll apply -- -target=x", wantErr: "does not take terraform flags"},
		{name: "bare value after --", body: "atoll plan -- foo", wantErr: `unexpected argument "foo"`},
		{name: "missing value", body: "atoll plan -- -var", wantErr: "needs a value"},
		{name: "unterminated quote", body: `atoll plan -- -var "a=b`, wantErr: "unterminated"},
		{name: "multi-line", body: "atoll plan\natoll apply", wantErr: "single line"},
		{name: "p and d", body: "atoll plan -p a -d b", wantErr: "not both"},
		{name: "unlock -w alone", body: "atoll unlock -w x", wantErr: "-w needs -d"},
		{name: "parallelism not a number", body: "atoll plan -- -parallelism=abc", wantErr: "must be a number"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := ParseCommand(tt.body, testExecutables)
			switch {
			case tt.notCmd:
				if !errors.Is(err, errNotCommand) {
					t.Fatalf("ParseCommand(%q) = %+v, %v; want errNotCommand", tt.body, got, err)
				}
			case tt.wantErr != "":
				var ce *CommandError
				if !errors.As(err, &ce) || !strings.Contains(ce.Msg, tt.wantErr) {
					t.Fatalf("ParseCommand(%q) error = %v; want CommandError containing %q", tt.body, err, tt.wantErr)
				}
			default:
				if err != nil {
					t.Fatalf("ParseCommand(%q): %v", tt.body, err)
				}
				if diff := cmp.Diff(tt.want, got); diff != "" {
					t.Errorf("ParseCommand(%q) mismatch (-want +got):\n%s", tt.body, diff)
				}
			}
		})
	}
}

func TestCleanDir(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in, want string
		ok       bool
	}{
		{"network", "network", true},
		{"./network/", "network", true},
		{".", ".", true},
		{"a/./b//c", "a/b/c", true},
		{"a/../b", "b", true},
		{"..", "", false},
		{"../x", "", false},
		{"a/../../x", "", false},
		{"/abs", "", false},
		{"", "", false},
		{"a\x00b", "", false},
		{`a\..\..\x`, "", false},
		{"a`b", "", false},
		{"<script>", "", false},
	}
	for _, tt := range tests {
		got, err := CleanDir(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("CleanDir(%q) = %q, %v; want %q ok=%v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}

// FuzzCleanDir checks that every directory CleanDir accepts is relative,
// clean, stays inside the repository, and holds nothing that could leave a
// Markdown code span or a path: no "..", NUL, control characters, backslash,
// backtick or angle brackets.
func FuzzCleanDir(f *testing.F) {
	for _, s := range []string{"network", "./a/b/", "..", "a/../../x", "/etc", "a\x00b", `a\..\x`, "a`b", "<x>",
		"a/./b//c", ".", "net work", "\u202e", "a/..", "%2e%2e/x", "....//x", "a\nb"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		got, err := CleanDir(in)
		if err != nil {
			if got != "" {
				t.Errorf("CleanDir(%q) = %q with error %v", in, got, err)
			}
			return
		}
		if got == "" || path.IsAbs(got) || path.Clean(got) != got {
			t.Errorf("CleanDir(%q) = %q: not a clean relative path", in, got)
		}
		if got == ".." || strings.HasPrefix(got, "../") || strings.Contains(got, "/../") {
			t.Errorf("CleanDir(%q) = %q leaves the repository", in, got)
		}
		if strings.ContainsAny(got, "\x00\\`<>") || strings.IndexFunc(got, unicode.IsControl) >= 0 {
			t.Errorf("CleanDir(%q) = %q holds a forbidden character", in, got)
		}
	})
}

// FuzzParseCommand checks that no comment makes the parser panic and that every
// accepted command has only safe, allowlisted parts.
func FuzzParseCommand(f *testing.F) {
	for _, s := range []string{
		"atoll plan", "atoll apply -d network -w default", "atoll plan -- -var 'a=b c' -target=x",
		"atoll unlock -d a -w b", "atlantis plan -p web --verbose", "atoll plan -d ../x", `atoll plan "`,
		"atoll plan -- -var-file=../../x", "atoll \u00a0plan", "atoll plan -d a\\ b", "atoll help\r\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		cmd, err := ParseCommand(body, testExecutables)
		if err != nil {
			return
		}
		if cmd.Dir != "" {
			if _, err := CleanDir(cmd.Dir); err != nil {
				t.Fatalf("accepted unsafe dir %q from %q", cmd.Dir, body)
			}
		}
		for _, a := range cmd.ExtraArgs {
			name, _, _ := strings.Cut(a, "=")
			if _, ok := AllowedExtraFlags[name]; !ok {
				t.Fatalf("accepted flag %q from %q", a, body)
			}
		}
	})
}
