"""Pro tips shown once after each sign-in, unless the user turned them off."""

import random

TIPS = [
    "Keep your configuration vault disabled while you edit it, and enable it when it is ready.",
    "Label your credentials after the machine that uses them, so you know which to revoke.",
    "Paste the credentials dialog's text straight into `clearml-init`.",
    "Admins can read every administrative change in the workspace's audit log.",
    "Hidden container arguments keep secrets out of logs: add your own variable names.",
]
SESSION_FLAG = "show_pro_tip"


def tip_for_request(request, prefs) -> str | None:
    session = getattr(request, "session", None)
    if session is None or not session.get(SESSION_FLAG):
        return None
    session.pop(SESSION_FLAG)
    if prefs is not None and prefs.hide_pro_tips:
        return None
    return random.choice(TIPS)
