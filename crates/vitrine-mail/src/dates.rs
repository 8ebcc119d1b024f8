//! Dates and times as a reader expects them in English and French.
//!
//! Two languages and a fixed long format do not justify an i18n stack (ICU data weighs
//! megabytes); the names of twelve months and seven days do the job. If a third language
//! comes, this is the table to grow.

use jiff::Timestamp;
use jiff::civil::{Date, Weekday};
use jiff::tz::TimeZone;
use vitrine_domain::Language;

const EN_WEEKDAYS: [&str; 7] = [
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
];
const FR_WEEKDAYS: [&str; 7] = [
    "lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche",
];
const EN_MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
const FR_MONTHS: [&str; 12] = [
    "janvier",
    "février",
    "mars",
    "avril",
    "mai",
    "juin",
    "juillet",
    "août",
    "septembre",
    "octobre",
    "novembre",
    "décembre",
];

fn weekday_name(weekday: Weekday, lang: Language) -> &'static str {
    let index = usize::from(weekday.to_monday_zero_offset().unsigned_abs());
    match lang {
        Language::En => EN_WEEKDAYS[index],
        Language::Fr => FR_WEEKDAYS[index],
    }
}

fn month_name(month: i8, lang: Language) -> &'static str {
    // jiff guarantees 1..=12 for a valid date.
    let index = usize::from(month.unsigned_abs()).saturating_sub(1) % 12;
    match lang {
        Language::En => EN_MONTHS[index],
        Language::Fr => FR_MONTHS[index],
    }
}

/// A calendar day in full: "Tuesday 1 December 2026", "mardi 1er décembre 2026".
///
/// French writes the first day of a month as an ordinal ("1er"), every other day as a
/// cardinal; English (British order, unambiguous on both sides of the Atlantic) does not.
pub fn format_date(date: Date, lang: Language) -> String {
    let weekday = weekday_name(date.weekday(), lang);
    let month = month_name(date.month(), lang);
    let (day, year) = (date.day(), date.year());
    match lang {
        Language::En => format!("{weekday} {day} {month} {year}"),
        Language::Fr if day == 1 => format!("{weekday} 1er {month} {year}"),
        Language::Fr => format!("{weekday} {day} {month} {year}"),
    }
}

/// An instant in the reader's time zone, with the zone's abbreviation so that a reader who
/// travels knows which clock is meant: "Tuesday 1 December 2026 at 14:00 (CET)",
/// "mardi 1er décembre 2026 à 14 h 00 (CET)".
pub fn format_date_time(at: Timestamp, time_zone: &TimeZone, lang: Language) -> String {
    let zoned = at.to_zoned(time_zone.clone());
    let date = format_date(zoned.date(), lang);
    let (hour, minute) = (zoned.hour(), zoned.minute());
    let zone = zoned.strftime("%Z");
    match lang {
        Language::En => format!("{date} at {hour:02}:{minute:02} ({zone})"),
        Language::Fr => format!("{date} à {hour} h {minute:02} ({zone})"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;

    #[test]
    fn dates_in_both_languages() {
        let first = date(2026, 12, 1);
        assert_eq!(format_date(first, Language::En), "Tuesday 1 December 2026");
        assert_eq!(format_date(first, Language::Fr), "mardi 1er décembre 2026");
        let later = date(2027, 8, 15);
        assert_eq!(format_date(later, Language::En), "Sunday 15 August 2027");
        assert_eq!(format_date(later, Language::Fr), "dimanche 15 août 2027");
    }

    #[test]
    fn every_weekday_and_month_has_a_name() {
        let mut day = date(2026, 1, 1);
        for _ in 0..366 {
            for lang in [Language::En, Language::Fr] {
                let text = format_date(day, lang);
                assert!(text.contains(&day.year().to_string()), "{text}");
            }
            day = day.tomorrow().unwrap_or(day);
        }
    }

    #[test]
    fn instants_in_the_readers_time_zone_across_daylight_saving() -> Result<(), jiff::Error> {
        let paris = TimeZone::get("Europe/Paris")?;
        let winter: Timestamp = "2026-12-01T13:00:00Z".parse()?;
        assert_eq!(
            format_date_time(winter, &paris, Language::En),
            "Tuesday 1 December 2026 at 14:00 (CET)"
        );
        assert_eq!(
            format_date_time(winter, &paris, Language::Fr),
            "mardi 1er décembre 2026 à 14 h 00 (CET)"
        );
        let summer: Timestamp = "2026-07-07T07:05:00Z".parse()?;
        assert_eq!(
            format_date_time(summer, &paris, Language::Fr),
            "mardi 7 juillet 2026 à 9 h 05 (CEST)"
        );
        let new_york = TimeZone::get("America/New_York")?;
        // The same instant is still Monday evening in New York.
        let late: Timestamp = "2026-12-01T02:30:00Z".parse()?;
        assert_eq!(
            format_date_time(late, &new_york, Language::En),
            "Monday 30 November 2026 at 21:30 (EST)"
        );
        Ok(())
    }
}
