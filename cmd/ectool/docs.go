package main

import (
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/cobra/doc"
)

// docsDate is fixed so generated man pages are reproducible.
var docsDate = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

type docsOptions struct {
	Dir string
}

// NewCmdDocs writes the markdown CLI reference and man pages.
func NewCmdDocs(app *App, root *cobra.Command) *cobra.Command {
	opts := &docsOptions{}
	cmd := &cobra.Command{
		Use:    "docs",
		Short:  "Write the markdown CLI reference and man pages",
		Long:   "Write the markdown CLI reference (DIR/*.md) and man pages (DIR/man/*.1). The output is reproducible: no generation date, a fixed man-page date.",
		Args:   cobra.NoArgs,
		Hidden: false,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := writeDocs(root, opts.Dir); err != nil {
				return cannotRun("check that the directory is writable", "could not write docs to %s: %v", opts.Dir, err)
			}
			if app.JSON() {
				return app.printJSON(map[string]string{"dir": opts.Dir})
			}
			app.Infof("wrote CLI reference to %s", opts.Dir)
			return nil
		},
	}
	cmd.Flags().StringVar(&opts.Dir, "dir", "docs/cli", "directory to write the reference into")
	return cmd
}

func writeDocs(root *cobra.Command, dir string) error {
	disableAutoGenTag(root)
	manDir := filepath.Join(dir, "man")
	if err := os.MkdirAll(manDir, 0o755); err != nil {
		return err
	}
	if err := doc.GenMarkdownTree(root, dir); err != nil {
		return err
	}
	hdr := &doc.GenManHeader{Title: "ECTOOL", Section: "1", Date: &docsDate, Source: "ectool", Manual: "ectool manual"}
	return doc.GenManTree(root, hdr, manDir)
}

func disableAutoGenTag(c *cobra.Command) {
	c.DisableAutoGenTag = true
	for _, sub := range c.Commands() {
		disableAutoGenTag(sub)
	}
}
