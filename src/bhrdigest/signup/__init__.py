"""Sign-up with double opt-in: who is mailed what when someone asks to join (requests.py),
and the emails themselves (notices.py). The pages are web/signup.py; the rows store/signups.py
and store/notices.py."""
