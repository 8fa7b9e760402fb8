"""Generate warranty-and-repairs.pdf for the unseen-document check.

Run from anywhere with a Python that has reportlab (e.g. the project's .venv after
`pip install -e .[test]`):  python bench/unseen/make_pdf.py
The output is written next to this script. Text is real (platypus Paragraphs), so it
can be extracted by any PDF text extractor.
"""

from pathlib import Path

from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
from reportlab.lib.units import cm
from reportlab.platypus import ListFlowable, ListItem, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

OUT = Path(__file__).resolve().parent / "warranty-and-repairs.pdf"

styles = getSampleStyleSheet()
H1 = styles["Title"]
H2 = styles["Heading2"]
H3 = styles["Heading3"]
BODY = ParagraphStyle("Body", parent=styles["BodyText"], fontSize=10.5, leading=14, spaceAfter=6)
SMALL = ParagraphStyle("Small", parent=BODY, fontSize=8.5, leading=11, textColor=colors.grey)


def p(text):
    return Paragraph(text, BODY)


def bullets(items):
    return ListFlowable([ListItem(Paragraph(t, BODY), leftIndent=12) for t in items], bulletType="bullet", start="•")


def numbered(items):
    return ListFlowable([ListItem(Paragraph(t, BODY), leftIndent=12) for t in items], bulletType="1")


story = [
    Paragraph("Velora Warranty and Repairs", H1),
    p("Velora Cycles BV, Dok Noord 7, 9000 Ghent, Belgium. Version 2.3, valid for bikes delivered from 1 March onwards."),
    p("Every new Velora e-bike comes with the Velora warranty on top of your legal rights. This document explains "
      "what is covered and for how long, what is not covered, how to make a claim and what repairs cost once the "
      "warranty has ended."),

    Paragraph("1. Warranty periods", H2),
    p("The warranty starts on the day your bike is delivered to you. The periods are:"),
    Table(
        [["Part", "Warranty period"],
         ["Frame and fork", "10 years"],
         ["Paint and finish (rust through the paint, peeling, blistering)", "5 years"],
         ["Battery", "3 years"],
         ["Motor, motor controller, display, charger and wiring", "2 years"],
         ["Gears, brakes, hubs, wheels, handlebar, seat post and integrated lights", "2 years"]],
        colWidths=[11 * cm, 4.5 * cm],
        style=TableStyle([
            ("FONTNAME", (0, 0), (-1, 0), "Helvetica-Bold"),
            ("FONTSIZE", (0, 0), (-1, -1), 10),
            ("GRID", (0, 0), (-1, -1), 0.5, colors.grey),
            ("BACKGROUND", (0, 0), (-1, 0), colors.whitesmoke),
            ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ]),
    ),
    Spacer(1, 8),
    p("<b>Battery capacity.</b> We replace a battery under warranty if it has a defect, or if its capacity has fallen "
      "below 60% of its rated capacity within the warranty period. The Velora app shows the battery's health under "
      "Bike &gt; Battery health; we confirm it with a workshop test before replacing the battery."),
    p("<b>Frame warranty and second owners.</b> The 10-year frame and fork warranty applies to the original owner only. "
      "All other warranty periods pass to a new owner if you sell your bike, as long as the new owner has the original "
      "order confirmation or invoice."),
    p("<b>Commercial use.</b> Bikes used for deliveries, courier work, rental or sharing have a 1-year warranty on the "
      "motor, battery and electrical parts. The frame warranty is the same."),
    p("<b>Your legal rights.</b> The Velora warranty does not replace the 2-year legal guarantee of conformity that "
      "applies in the European Union. You can always choose to use your legal rights instead."),

    Paragraph("2. What is not covered", H2),
    bullets([
        "Wear parts: tyres, inner tubes, brake pads and discs, chain, sprockets, chainring, grips, cables and bearings "
        "that wear out through normal use.",
        "Damage from a crash, a fall, misuse, overloading or riding above the maximum total load for your model.",
        "Damage caused by tuning kits or software that raise the assisted speed, and any part fitted by someone other "
        "than Velora or a Velora service partner that causes the fault.",
        "Water damage from submersion or pressure washing.",
        "Cosmetic scratches and chips that do not affect the use of the bike.",
        "Theft and loss of the bike, battery or keys.",
    ]),

    Paragraph("Crash replacement offer", H3),
    p("If your frame is damaged in a crash within 3 years of delivery, it isn't covered by the warranty, but as the "
      "original owner you can buy a replacement frame at 30% off the list price. Send us photos of the damage and, "
      "if there was one, the police or insurance report."),

    Paragraph("3. How to make a warranty claim", H2),
    numbered([
        "Open the Velora app and go to Support &gt; Warranty claim, or write to us using the form at "
        "velora.example/warranty.",
        "Give your order number (it starts with VC- followed by six digits, for example VC-204731) and your bike's "
        "serial number. The serial number starts with VLR and is engraved on the underside of the frame, next to the "
        "bottom bracket. It is also shown in the app under Bike &gt; About.",
        "Describe the problem and add photos or a short video, and the error code if the display shows one.",
        "We reply within 2 business days and tell you whether the repair can be done by a service partner near you, "
        "by a mobile mechanic, or at our repair centre in Ghent.",
    ]),
    p("If the bike has to come to Ghent, we arrange collection and return free of charge from any country we deliver "
      "to. A repair at the Ghent repair centre usually takes 7 to 10 business days from the day the bike arrives."),

    Paragraph("Loan bike during long repairs", H3),
    p("If a warranty repair keeps your bike off the road for more than 14 days, we lend you a Velora Metro free of "
      "charge until your own bike is back. Ask for a loan bike when you make your claim or at any time after the "
      "14 days have passed. Loan bikes are available in Belgium, the Netherlands, Luxembourg, France and Germany."),

    Paragraph("4. Repairs after the warranty", H2),
    p("Out-of-warranty repairs are done by our service partners or at our Ghent repair centre. At the Ghent repair "
      "centre:"),
    bullets([
        "Diagnosis of an electrical fault costs €39. If you go ahead with the repair, we deduct the €39 from the bill.",
        "Workshop labour costs €65 per hour, charged in 15-minute steps.",
        "Collection and return of the bike cost €59 each way.",
        "We send you a quote before any work starts, and nothing is done without your approval.",
    ]),
    p("Service partners set their own labour prices. Parts are the same price everywhere and are listed in the app."),

    Paragraph("Repaired parts", H3),
    p("Parts replaced during a warranty or paid repair have a 1-year warranty of their own, or the remaining original "
      "warranty period if that is longer. Replaced parts become the property of Velora and are recycled."),

    Spacer(1, 12),
    Paragraph("Velora Cycles BV is registered in Belgium. This warranty is governed by Belgian law, without prejudice "
              "to the mandatory consumer protection rules of the country where you live.", SMALL),
]


def main():
    doc = SimpleDocTemplate(str(OUT), pagesize=A4, title="Velora Warranty and Repairs", author="Velora Cycles",
                            leftMargin=2 * cm, rightMargin=2 * cm, topMargin=2 * cm, bottomMargin=2 * cm)
    doc.build(story)
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
