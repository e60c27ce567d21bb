from django import forms


class TermsForm(forms.Form):
    accept = forms.BooleanField(
        required=True,
        label="I have read and accept the terms and conditions",
        error_messages={"required": "Accept the terms and conditions to continue."},
    )
