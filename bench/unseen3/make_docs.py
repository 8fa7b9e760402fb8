"""Generate the two binary documents of the unseen3 check.

    /work/main/.venv/bin/python bench/unseen3/make_docs.py

- hollybrook-pet-insurance-policy-guide.docx  (python-docx; premiums and cover limits sit in Word tables)
- talweg-car-hire-rental-terms.pdf  (reportlab platypus: paragraphs, bulleted lists and a Table, so the
  text is extractable)

Both files are committed, so the check itself needs neither library. All companies, prices, phone
numbers and addresses are invented.
"""

from pathlib import Path

HERE = Path(__file__).resolve().parent


# --------------------------------------------------------------------------------------------
# DOCX: Hollybrook Pet Insurance policy guide (UK, GBP)
# --------------------------------------------------------------------------------------------

def make_docx(path: Path) -> None:
    from docx import Document

    doc = Document()
    doc.add_heading("Hollybrook Pet Insurance — Policy Guide for Dogs and Cats", level=0)
    doc.add_paragraph(
        "Applies to policies starting or renewing on or after 1 February 2025. All prices are in pounds "
        "sterling and include Insurance Premium Tax. This guide is a summary; the full policy wording "
        "is in your welcome pack and in the Hollybrook app."
    )

    def table(headers, rows):
        t = doc.add_table(rows=1, cols=len(headers))
        t.style = "Table Grid"
        for cell, text in zip(t.rows[0].cells, headers):
            cell.text = text
            for run in cell.paragraphs[0].runs:
                run.bold = True
        for row in rows:
            cells = t.add_row().cells
            for cell, text in zip(cells, row):
                cell.text = text
        return t

    doc.add_heading("1. Our three levels of cover", level=1)
    doc.add_paragraph(
        "Hollybrook insures dogs and cats living in England, Scotland and Wales. We do not insure "
        "rabbits, birds, reptiles or any other animals, and we cannot cover pets kept in Northern "
        "Ireland, the Channel Islands or the Isle of Man. You can choose between three levels of cover:"
    )
    doc.add_paragraph(
        "Essential is a time-limited policy: each condition is covered for up to 12 months from the "
        "date it first showed signs, or until the vet fee limit for that condition is used up, whichever "
        "comes first. Complete and Complete Plus are lifetime policies: the vet fee limit is renewed "
        "every policy year, so long-term conditions such as diabetes or arthritis stay covered as long "
        "as you keep renewing without a break."
    )

    doc.add_heading("2. Monthly premiums", level=1)
    doc.add_paragraph(
        "Typical monthly premiums for a pet living outside London. Your actual premium depends on the "
        "breed, your postcode and the pet's age on the start date; the quote you receive is the price "
        "you pay for the first year. Pets living in a London postcode pay 15% more than the prices shown."
    )
    table(
        ["Cover", "Dog under 5", "Dog aged 5 to 8", "Cat under 5", "Cat aged 5 to 10"],
        [
            ["Essential", "£14.20", "£21.60", "£8.90", "£12.40"],
            ["Complete", "£27.50", "£38.75", "£16.30", "£22.80"],
            ["Complete Plus", "£41.00", "£55.90", "£24.60", "£31.20"],
        ],
    )
    doc.add_paragraph(
        "We accept new dogs up to their 9th birthday and new cats up to their 11th birthday. Older pets "
        "already insured with us can keep renewing at any age. Puppies and kittens can be insured from "
        "8 weeks old."
    )

    doc.add_heading("3. What each level covers", level=1)
    table(
        ["Benefit", "Essential", "Complete", "Complete Plus"],
        [
            ["Vet fee limit", "£3,000 per condition", "£6,000 per policy year", "£12,000 per policy year"],
            ["Standard excess per condition", "£99", "£99", "£60"],
            ["Dental illness (e.g. gum disease)", "Not covered", "Not covered", "Up to £1,000 a year"],
            ["Dental accident (e.g. broken tooth)", "Covered", "Covered", "Covered"],
            ["Complementary therapy (hydrotherapy, physiotherapy)", "Not covered", "Up to £500 a year",
             "Up to £1,500 a year"],
            ["Behavioural treatment", "Not covered", "Not covered", "Up to £750 a year"],
            ["Third-party liability (dogs only)", "£1 million", "£2 million", "£2 million"],
            ["Death from illness or accident", "Not covered", "Purchase price up to £750",
             "Purchase price up to £1,500"],
            ["Kennel or cattery fees if you go into hospital", "Not covered", "Up to £1,000", "Up to £1,500"],
            ["Vet fees abroad (EU trips up to 30 days)", "Not covered", "Not covered", "Up to £3,000"],
            ["24-hour video vet in the app", "Not included", "Included", "Included"],
        ],
    )
    doc.add_paragraph(
        "Third-party liability covers damage or injury your dog causes to other people or their "
        "property. It is not provided for cats on any level of cover."
    )

    doc.add_heading("4. Waiting periods", level=1)
    doc.add_paragraph(
        "Accidents are covered from the start date of your policy. Illnesses are covered once the policy "
        "has been running for 14 days, and cruciate ligament problems only after 6 months. If you move "
        "to Hollybrook from another UK pet insurer with no gap in cover, we waive the 14-day illness "
        "waiting period; the 6-month cruciate waiting period still applies. Conditions that showed signs "
        "before your policy started, or during a waiting period, are not covered."
    )

    doc.add_heading("5. Co-payment for older pets", level=1)
    doc.add_paragraph(
        "From the first renewal after a dog's 9th birthday or a cat's 11th birthday, you pay a share of "
        "every claim in addition to the excess. On Essential and Complete this co-payment is 20% of the "
        "claim. On Complete Plus it is 10%. The co-payment never applies to accident claims."
    )

    doc.add_heading("6. Discounts and ways to pay", level=1)
    doc.add_paragraph(
        "Insure two or more pets on the same policy and each extra pet gets 10% off its premium (up to "
        "five pets per policy). If you pay for the whole year in one go instead of monthly, you save 5% "
        "of the annual premium. We do not offer student, senior or refer-a-friend discounts, and the "
        "multi-pet and annual discounts cannot be applied to the Essential level for pets aged 5 or over."
    )

    doc.add_heading("7. Other charges", level=1)
    table(
        ["Item", "Charge", "Notes"],
        [
            ["Changing your cover level at renewal", "Free", "Mid-year changes are not possible"],
            ["Adding a pet mid-year", "Free", "Pro-rata premium for the rest of the policy year"],
            ["Policy documents by post", "£2.50 per mailing", "Free for customers registered blind or "
             "partially sighted"],
            ["Cancelling within the 14-day cooling-off period", "Free", "Full refund if no claim has "
             "been made"],
            ["Cancelling after the cooling-off period", "£25 admin fee",
             "Unused premium refunded, unless a claim was paid this policy year (then no refund)"],
            ["Missed monthly payment", "No fee", "Cover is suspended if two payments in a row are missed"],
        ],
    )

    doc.add_heading("8. Making a claim", level=1)
    doc.add_paragraph(
        "Ask your vet to fill in the vet section of the claim form in the Hollybrook app, or download the "
        "paper form. Claims must reach us within 90 days of the treatment date. For vet fees abroad on "
        "Complete Plus the deadline is 180 days, because foreign invoices often need translating. If "
        "your vet agrees, we pay them directly; otherwise we pay you by bank transfer within 10 working "
        "days of approving the claim. We do not pay claims in cash or by cheque."
    )
    doc.add_paragraph(
        "We need the vet's itemised invoice and, for a new condition, the full clinical history for the "
        "last 12 months. Claims over £2,500 may also need a second opinion from one of our vets, which "
        "we arrange and pay for."
    )

    doc.add_heading("9. Contact us", level=1)
    doc.add_paragraph(
        "Claims and policy questions: 0345 210 6620, Monday to Friday 8am to 8pm and Saturday 9am to "
        "1pm. We are closed on Sundays and bank holidays. Lost or stolen pets (Complete and Complete "
        "Plus): 0345 210 6699, 24 hours a day."
    )
    doc.add_paragraph("Email: help@hollybrookpet.co.uk. We aim to reply within 2 working days.")
    doc.add_paragraph(
        "Post: Hollybrook Pet Insurance, Unit 4 Larkspur Court, Ipswich IP3 9QT. Please send original "
        "invoices only if we ask for them."
    )
    doc.save(str(path))


# --------------------------------------------------------------------------------------------
# PDF: Talweg Car Hire rental terms (Switzerland, CHF)
# --------------------------------------------------------------------------------------------

def make_pdf(path: Path) -> None:
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import getSampleStyleSheet
    from reportlab.lib.units import cm
    from reportlab.platypus import (ListFlowable, ListItem, Paragraph, SimpleDocTemplate, Table,
                                    TableStyle)

    styles = getSampleStyleSheet()
    body, h1, h2 = styles["BodyText"], styles["Title"], styles["Heading2"]
    story = []

    def para(text):
        story.append(Paragraph(text, body))

    def bullets(items):
        story.append(ListFlowable([ListItem(Paragraph(t, body)) for t in items], bulletType="bullet",
                                  start="•", leftIndent=14))

    story.append(Paragraph("Talweg Car Hire: Rates and Rental Terms", h1))
    para("Talweg Autovermietung AG · Customer information · Valid from 1 March 2025 · All prices in Swiss "
         "francs (CHF) including 8.1% VAT")

    story.append(Paragraph("1. Vehicle categories and daily rates", h2))
    para("The daily rate depends on the vehicle category and on the length of the rental. The rate for "
         "the whole rental is set by its total length: a 5-day rental is charged at the 3&ndash;6 day "
         "rate for every day. We guarantee the category, not a particular model.")
    data = [
        ["Category (example model)", "1-2 days", "3-6 days", "7+ days", "Deposit"],
        ["Economy (VW Polo)", "CHF 69", "CHF 59", "CHF 49", "CHF 500"],
        ["Compact (Skoda Octavia)", "CHF 89", "CHF 76", "CHF 64", "CHF 800"],
        ["Electric (Tesla Model 3)", "CHF 115", "CHF 99", "CHF 84", "CHF 1,000"],
        ["SUV 4x4 (VW Tiguan)", "CHF 129", "CHF 112", "CHF 95", "CHF 1,200"],
        ["Minibus, 9 seats (Ford Transit)", "CHF 165", "CHF 145", "CHF 125", "CHF 1,500"],
    ]
    t = Table(data, colWidths=[5.6 * cm, 2.3 * cm, 2.3 * cm, 2.3 * cm, 2.5 * cm])
    t.setStyle(TableStyle([
        ("FONTNAME", (0, 0), (-1, 0), "Helvetica-Bold"),
        ("BACKGROUND", (0, 0), (-1, 0), colors.lightgrey),
        ("GRID", (0, 0), (-1, -1), 0.5, colors.grey),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
    ]))
    story.append(t)
    para("The deposit is blocked on a credit card in the main driver's name at pick-up and released "
         "within 10 days of return. Debit cards and prepaid cards are accepted for payment but not for "
         "the deposit.")

    story.append(Paragraph("2. Kilometres", h2))
    para("Rentals of 7 days or more include unlimited kilometres. Shorter rentals include 300 km per day; "
         "each extra kilometre costs CHF 0.35. The minibus always includes 200 km per day, whatever the "
         "rental length, and each extra kilometre costs CHF 0.50.")

    story.append(Paragraph("3. Drivers", h2))
    bullets([
        "Minimum age 21 for Economy, Compact and Electric; 25 for SUV 4x4 and Minibus.",
        "Drivers under 25 pay a young driver surcharge of CHF 20 per day (maximum CHF 200 per rental).",
        "You must have held a full licence for at least 2 years. Licences not in a Latin alphabet need an "
        "international driving permit.",
        "Additional driver: CHF 15 per day, up to a maximum of CHF 90 per rental. A spouse or registered "
        "partner living at the same address is added free of charge.",
    ])

    story.append(Paragraph("4. Extras", h2))
    bullets([
        "Child seat or booster: CHF 12 per day, maximum CHF 60 per rental.",
        "Snow chains: CHF 8 per day. SUV 4x4 vehicles come with snow chains at no charge between "
        "1 November and 30 April. All our cars have winter tyres in that period.",
        "Ski or snowboard rack: CHF 9 per day (not available for the Electric category).",
        "Satellite navigation: CHF 10 per day.",
        "Zero Excess cover: CHF 24 per day. It reduces your excess for damage and theft from CHF 2,000 "
        "to CHF 0. Damage to tyres, windscreen and the underside of the car is never covered.",
    ])

    story.append(Paragraph("5. Driving abroad", h2))
    para("The Swiss motorway vignette is included with every car. You may take Economy, Compact, SUV 4x4 "
         "and Minibus vehicles to Germany, France, Italy, Austria and Liechtenstein for a cross-border "
         "fee of CHF 45 per rental; tell us when you book. Electric cars may only be driven in Switzerland "
         "and Liechtenstein. Travel to any other country is not permitted and voids the damage cover.")

    story.append(Paragraph("6. Fuel and charging", h2))
    para("Petrol and diesel cars are handed over with a full tank and must be returned full. If you "
         "return the car with less fuel, we charge CHF 3.20 per litre plus a CHF 25 refuelling fee. "
         "Electric cars are handed over charged to at least 80% and must be returned with at least 70%; "
         "below that we charge a flat CHF 35 charging fee.")

    story.append(Paragraph("7. Picking up and returning", h2))
    bullets([
        "Zürich Airport: open 24 hours, every day. Phone +41 44 815 20 70.",
        "Bern Bahnhof (Schanzenstrasse 4): Monday to Saturday 07:00 to 19:00, closed Sundays. "
        "Phone +41 31 552 18 40.",
        "Lugano Centro (Via Cattori 11): Monday to Friday 08:00 to 18:00. No phone line; email "
        "lugano@talweg.ch.",
    ])
    para("There is a 59-minute grace period on return. If you return the car more than 59 minutes late, a "
         "full extra day is charged at the rate of your rental. Out-of-hours returns at Bern are possible "
         "through the key box; the car stays at your risk until the branch opens.")
    para("One-way rentals between Zürich Airport and Bern cost CHF 60 extra. One-way rentals to or from "
         "Lugano cost CHF 150 extra. One-way rentals are not available for the Minibus.")

    story.append(Paragraph("8. Changing or cancelling a booking", h2))
    bullets([
        "Flexible rate: free cancellation or changes up to 48 hours before the pick-up time.",
        "Cancelling a Flexible booking less than 48 hours before pick-up: one day's rental is charged.",
        "No-show without cancelling: three days' rental is charged, or the full rental if shorter.",
        "Saver rate (10% cheaper, paid when booking): non-refundable, but the dates can be changed once "
        "for a fee of CHF 30 up to 48 hours before pick-up.",
    ])

    story.append(Paragraph("9. Breakdowns, accidents and fines", h2))
    para("Roadside assistance is included 24 hours a day on +41 800 825 934 (free from Swiss phones). "
         "After an accident, fill in the European accident report in the glovebox and call us within "
         "24 hours. Traffic and parking fines are passed on to the renter with a CHF 40 handling fee per "
         "fine. Smoking in the car leads to a cleaning charge of CHF 250.")
    SimpleDocTemplate(str(path), pagesize=A4, title="Talweg Car Hire: rates and rental terms",
                      author="Talweg Autovermietung AG").build(story)


if __name__ == "__main__":
    make_docx(HERE / "hollybrook-pet-insurance-policy-guide.docx")
    make_pdf(HERE / "talweg-car-hire-rental-terms.pdf")
    print("wrote", HERE / "hollybrook-pet-insurance-policy-guide.docx")
    print("wrote", HERE / "talweg-car-hire-rental-terms.pdf")
