package config

import (
	"fmt"
	"runtime/debug"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	hcljson "github.com/hashicorp/hcl/v2/json"
)

// TestCheckNestingRefusesDeepFiles feeds the guard files that would each overflow
// the stack of HCL's parser and kill the process (hashicorp/hcl#809): the guard
// must refuse every one, quickly, with a position.
func TestCheckNestingRefusesDeepFiles(t *testing.T) {
	t.Parallel()
	const n = 5000 // past the limit; 80,000 parentheses overflow the parser's 1 GB stack
	tests := []struct {
		name, file, src, wantAt string
	}{
		{"brackets", "main.tf", "a = " + strings.Repeat("[", n), "main.tf:1:1004"},
		{"parentheses", "main.tf", "a = " + strings.Repeat("(", n), "main.tf:1:1004"},
		{"blocks", "main.tf", strings.Repeat("a {\n", n), "main.tf:1000:3"},
		{"not", "main.tf", "a = " + strings.Repeat("!", n) + "true", "main.tf:1:1004"},
		{"negation", "main.tf", "a = " + strings.Repeat("-", n) + "1", "main.tf:1:1004"},
		{"not across lines in brackets", "main.tf", "a = [" + strings.Repeat("!\n", n) + "true]", "main.tf:999:1"},
		{"conditionals", "main.tf", "a = " + strings.Repeat("true ? 1 : ", n) + "2", "main.tf:1:10999"},
		{"conditionals across lines in parentheses", "main.tf", "a = (" + strings.Repeat("true ? 1 :\n", n) + "2)", "main.tf:999:6"},
		{"splats", "main.tf", "a = x" + strings.Repeat("[*]", n), "main.tf:1:3000"},
		{"splats with comments", "main.tf", "a = x" + strings.Repeat("[/**/*]", n), "main.tf:1:6992"},
		{"splats with line comments", "main.tf", "a = x" + strings.Repeat("[#c\n*]", n), "main.tf:999:3"},
		{"for object across lines", "main.tf", "a = {for k, v in x : k => " + strings.Repeat("!\n", n) + "v}", "main.tf:999:1"},
		{"templates in templates", "main.tf", "a = \"" + strings.Repeat("${\"", n), "main.tf:1:1503"},
		{"if directives", "main.tf", "a = \"" + strings.Repeat("%{if true}", n), "main.tf:1:9976"},
		{"heredoc directives with strip markers", "main.tf", "a = <<EOT\n" + strings.Repeat("%{~ if true ~}", n) + "\nEOT\n", "main.tf:2:13959"},
		{"mismatched closers do not close", "main.tf", "a = [" + strings.Repeat("(]", n), "main.tf:1:2002"},
		{"json arrays", "main.tf.json", strings.Repeat("[", n), "main.tf.json:1:1001"},
		{"json template", "main.tf.json", `{"terraform": {"required_version": "` + strings.Repeat(`${\"`, n) + `"}}`, "main.tf.json:1:36"},
		{"json template written with escapes", "main.tf.json", `{"a": "` + strings.Repeat(`\u0024{(`, n) + `"}`, "main.tf.json:1:7"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := checkNesting(tt.file, []byte(tt.src))
			if err == nil {
				t.Fatal("accepted; parsing it would overflow the stack")
			}
			if !strings.HasPrefix(err.Error(), tt.wantAt+": ") || !strings.Contains(err.Error(), "more than 1000 levels deep") {
				t.Errorf("error = %q, want it at %s", err, tt.wantAt)
			}
		})
	}
}

// TestCheckNestingUnclosedComments checks that a /* comment that is never closed,
// on which HCL's lexer takes quadratic time, is refused quickly, while /* in
// strings and heredocs (S3 ARNs) and closed comments are fine.
func TestCheckNestingUnclosedComments(t *testing.T) {
	t.Parallel()
	policy := "resource \"aws_iam_policy\" \"p\" {\n  policy = <<EOF\n" +
		strings.Repeat("{\"Resource\": \"arn:aws:s3:::bucket/*\"},\n", 2000) + "EOF\n}\n" +
		strings.Repeat("x = \"arn:aws:s3:::bucket/*\"\n", 2000)
	tests := []struct{ name, file, src, wantErr string }{
		{"unclosed comments", "main.tf", "a = 1\n" + strings.Repeat("/*\n", 100000),
			"main.tf:2:1: has a /* comment that is never closed; Atoll does not parse it"},
		{"unclosed comments with text", "main.tf", strings.Repeat("/* c", 100000),
			"main.tf:1:1: has a /* comment that is never closed; Atoll does not parse it"},
		{"unclosed comment in a json template", "main.tf.json", `{"a": "${1 ` + strings.Repeat(`/*\n`, 100000) + `}"}`,
			"main.tf.json:1:7: has a template with a /* comment that is never closed; Atoll does not parse it"},
		{"closed comments", "main.tf", strings.Repeat("/* c */\n", 20000), ""},
		{"/* in strings and heredocs", "main.tf", policy, ""},
		{"comment closed at the very end", "main.tf", "a = 1\n/* c */", ""},
		{"line comment at the very end", "main.tf", "a = 1\n# c", ""},
		{"unclosed heredoc", "main.tf", "a = <<EOT\n" + strings.Repeat("/* c\n", 10000), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			start := time.Now()
			err := checkNesting(tt.file, []byte(tt.src))
			// Lexing the refused inputs as they are takes many minutes.
			if took := time.Since(start); tt.wantErr != "" && took > 5*time.Second {
				t.Errorf("took %v", took)
			}
			if tt.wantErr == "" && err != nil {
				t.Fatalf("refused: %v", err)
			}
			if tt.wantErr != "" && (err == nil || err.Error() != tt.wantErr) {
				t.Fatalf("error = %v, want %q", err, tt.wantErr)
			}
		})
	}
}

// TestCheckNestingAcceptsRealFiles checks that the guard's over-estimate leaves
// room for real configurations, and that what it accepts parses.
func TestCheckNestingAcceptsRealFiles(t *testing.T) {
	t.Parallel()
	lines := func(n int, format string) string {
		var b strings.Builder
		for i := range n {
			fmt.Fprintf(&b, format, i)
		}
		return b.String()
	}
	tests := []struct{ name, file, src string }{
		{"900 parentheses", "main.tf", "a = " + strings.Repeat("(", 900) + "1" + strings.Repeat(")", 900) + "\n"},
		{"many conditionals, one a line", "main.tf", "locals {\n" + lines(5000, "  a%d = var.x ? -1 : !var.y\n") + "}\n"},
		{"many conditionals, each line ending in a comment", "main.tf", "locals {\n" + lines(5000, "  a%d = var.x ? 1 : 2 # why\n") + "}\n"},
		{"long list of negative numbers", "main.tf", "a = [" + lines(5000, "-%d, ") + "]\n"},
		{"long object across lines", "main.tf", "a = {\n" + lines(5000, "  k%d = var.x ? 1 : 2\n") + "}\n"},
		{"long function call", "main.tf", "a = concat(" + lines(5000, "[-%d], ") + ")\n"},
		{"heredoc with many directives one after another", "main.tf", "a = <<EOT\n" + lines(500, "%%{ if var.x }%d%%{ endif }\n") + "EOT\n"},
		{"splats", "main.tf", "a = aws_instance.web[*].id\nb = [for x in var.l : x[*].id]\n"},
		{"nested blocks", "main.tf", strings.Repeat("dynamic \"x\" {\n content {\n", 100) + strings.Repeat("}\n}\n", 100)},
		{"900 json levels", "main.tf.json", strings.Repeat("[", 900) + strings.Repeat("]", 900)},
		{"json templates", "main.tf.json", `{"module": {"m": {"source": "./m", "x": "${var.a ? -1 : 1}-%{ if var.b }b%{ endif }"}}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if err := checkNesting(tt.file, []byte(tt.src)); err != nil {
				t.Fatalf("refused: %v", err)
			}
			var diags hcl.Diagnostics
			if strings.HasSuffix(tt.file, ".json") {
				_, diags = hcljson.Parse([]byte(tt.src), tt.file)
			} else {
				_, diags = hclsyntax.ParseConfig([]byte(tt.src), tt.file, hcl.InitialPos)
			}
			if diags.HasErrors() {
				t.Errorf("the test input does not parse: %v", diags)
			}
		})
	}
}

// FuzzHCLNesting checks that checkNesting never under-estimates how deeply HCL's
// parser recurses. The fuzzed unit is repeated 8000 times, so whatever it nests
// nests 8000 deep; when the guard accepts the result, it is parsed with the stack
// capped at 32 MiB, about twice what 1000 levels need and far less than 8000
// levels need. An under-estimate makes the parser overflow the cap, which kills
// the run and shows the unit.
func FuzzHCLNesting(f *testing.F) {
	for _, s := range []string{
		"(", "[", "{", "!", "-", "true ? 1 : ", "x[*]", "\"${", "%{if a}", "<<EOT\n${", "{for k, v in x : k => ",
		"(]", "!\n", "a {\n", "f(", "[for x in y : ", "a = {\n", "${(", "x.*.", "# c\n(", "/* c */(", "-1, ", "a ? b : c\n", "[/**/*]", "[#c\n*]",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, unit string) {
		if len(unit) == 0 || len(unit) > 64 {
			return
		}
		defer debug.SetMaxStack(debug.SetMaxStack(32 << 20))
		deep := strings.Repeat(unit, 8000)
		for _, src := range []string{"a = " + deep, deep} {
			if checkNesting("main.tf", []byte(src)) == nil {
				hclsyntax.ParseConfig([]byte(src), "main.tf", hcl.InitialPos)
			}
		}
		if checkNesting("main.tf.json", []byte(deep)) == nil {
			hcljson.Parse([]byte(deep), "main.tf.json")
		}
	})
}
