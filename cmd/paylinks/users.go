package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/paylinks/paylinks/auth"
	"github.com/paylinks/paylinks/db"
	"github.com/paylinks/paylinks/paylink"
)

// cliAudit is the audit entry for an action taken from the command line.
func cliAudit(action string) db.AuditEntry {
	return db.AuditEntry{ActorEmail: "cli", Action: action, IP: "local"}
}

// usersCmd manages accounts from scripts and the console.
func usersCmd(ctx context.Context, st *db.Store, args []string, stdin io.Reader, stdout io.Writer) error {
	if len(args) == 0 {
		return fmt.Errorf("users: want create, list, disable, enable, reset-password or reset-2fa; %w", errUsage)
	}
	sub, args := args[0], args[1:]
	fs := flag.NewFlagSet("users "+sub, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	email := fs.String("email", "", "account email")
	name := fs.String("name", "", "display name (create)")
	role := fs.String("role", "", "admin, finance or viewer (create)")
	pwStdin := fs.Bool("password-stdin", false, "read the password from the first line of standard input")
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("users %s: %w", sub, err)
	}
	if sub == "list" {
		return listUsers(ctx, st, stdout)
	}
	if *email == "" {
		return fmt.Errorf("users %s: --email is required", sub)
	}
	switch sub {
	case "create":
		return createUser(ctx, st, *email, *name, *role, *pwStdin, stdin, stdout)
	case "disable", "enable":
		u, err := st.UserByEmail(ctx, *email)
		if err != nil {
			return fmt.Errorf("users %s: no account %s", sub, *email)
		}
		if err := st.SetUserDisabled(ctx, u.ID, sub == "disable", cliAudit("user."+sub)); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s %sd\n", auth.Printable(u.Email), sub)
		return nil
	case "reset-2fa":
		u, err := st.UserByEmail(ctx, *email)
		if err != nil {
			return fmt.Errorf("users reset-2fa: no account %s", *email)
		}
		if err := st.ResetTOTP(ctx, u.ID, cliAudit("2fa.reset")); err != nil {
			return fmt.Errorf("users reset-2fa: %w", err)
		}
		fmt.Fprintf(stdout, "two-factor sign-in removed for %s; their sessions were ended\n", auth.Printable(u.Email))
		return nil
	case "reset-password":
		u, err := st.UserByEmail(ctx, *email)
		if err != nil {
			return fmt.Errorf("users reset-password: no account %s", *email)
		}
		pw, generated, err := choosePassword(*pwStdin, stdin)
		if err != nil {
			return err
		}
		hash, err := hashOnce(ctx, pw)
		if err != nil {
			return err
		}
		if err := st.SetPassword(ctx, u.ID, hash, generated, "", cliAudit("user.password_reset")); err != nil {
			return err
		}
		reportPassword(stdout, u.Email, pw, generated)
		return nil
	}
	return fmt.Errorf("users: unknown subcommand %q; %w", sub, errUsage)
}

func createUser(ctx context.Context, st *db.Store, email, name, role string, pwStdin bool, stdin io.Reader, stdout io.Writer) error {
	if !paylink.Role(role).Valid() {
		return fmt.Errorf("users create: --role must be admin, finance or viewer")
	}
	if name == "" {
		return fmt.Errorf("users create: --name is required")
	}
	if errs := auth.CheckAccount(name, email); len(errs) > 0 {
		var msgs []string
		for _, f := range []string{"name", "email"} {
			if m := errs[f]; m != "" {
				msgs = append(msgs, "--"+f+": "+m)
			}
		}
		return fmt.Errorf("users create: %s", strings.Join(msgs, "; "))
	}
	pw, generated, err := choosePassword(pwStdin, stdin)
	if err != nil {
		return err
	}
	hash, err := hashOnce(ctx, pw)
	if err != nil {
		return err
	}
	a := cliAudit("user.create")
	a.Details = "role=" + role + " email=" + email
	u, err := st.CreateUser(ctx, db.NewUser{Email: email, Name: name, Role: paylink.Role(role), PasswordHash: hash, MustChangePassword: generated}, a)
	if errors.Is(err, db.ErrConflict) {
		return fmt.Errorf("users create: an account with email %s already exists", email)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "created %s (%s) id %d\n", u.Email, u.Role, u.ID)
	reportPassword(stdout, u.Email, pw, generated)
	return nil
}

// choosePassword reads one line from stdin when asked, checking the policy,
// or generates a one-time password.
func choosePassword(fromStdin bool, stdin io.Reader) (pw string, generated bool, err error) {
	if !fromStdin {
		return auth.GeneratePassword(), true, nil
	}
	r := bufio.NewReader(io.LimitReader(stdin, auth.MaxPasswordLen+2))
	line, err := r.ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", false, err
	}
	pw = strings.TrimRight(line, "\r\n")
	if msg := auth.CheckPasswordPolicy(pw); msg != "" {
		return "", false, fmt.Errorf("password from stdin refused: %s", msg)
	}
	return pw, false, nil
}

func hashOnce(ctx context.Context, pw string) (string, error) {
	h, err := auth.NewHasher(auth.DefaultHashParams)
	if err != nil {
		return "", err
	}
	return h.Hash(ctx, pw)
}

func reportPassword(w io.Writer, email, pw string, generated bool) {
	if generated {
		fmt.Fprintf(w, "one-time password for %s (they must change it at first sign-in): %s\n", email, pw)
	}
}

func listUsers(ctx context.Context, st *db.Store, stdout io.Writer) error {
	users, err := st.ListUsers(ctx)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tEMAIL\tNAME\tROLE\tSTATE\tCREATED")
	for _, u := range users {
		state := "active"
		if u.Disabled {
			state = "disabled"
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\n", u.ID, auth.Printable(u.Email), auth.Printable(u.Name), u.Role, state, u.CreatedAt.Format("2006-01-02"))
	}
	return tw.Flush()
}
