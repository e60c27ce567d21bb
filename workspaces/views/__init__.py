"""The workspaces app's pages, a module each:

- page.py: the Workspace page (its panels, switching, the name, leaving, the member table);
- credentials.py: App Credentials on that page;
- invitations.py: the portal's one invitation dialog, Resend and Revoke;
- join.py: the invitee's side (the link, sign-up, joining from a notification);
- audit.py: the audit log; notifications.py: the notification list.
"""
