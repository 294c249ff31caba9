package server

import "testing"

// Names from the repository (conflicting files, resource addresses) stay
// inside their code spans whatever they hold.
func TestRepoNamesStayInCodeSpans(t *testing.T) {
	t.Parallel()
	got := codeList([]string{"a`b.tf", "main.tf"})
	if got != "`` a`b.tf ``, `main.tf`" {
		t.Errorf("codeList = %q", got)
	}
}
