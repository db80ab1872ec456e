-- pgtenant demo data: two nutrition practices with a few patients and meal logs each.
-- Load as a superuser after demo_schema.sql (superusers bypass RLS, so no practice needs to
-- be bound). Fixed ids make the script re-runnable and let tests name rows.
--
-- Riverside Nutrition (1111...): 3 patients, 5 meal logs.
-- Harbor Dietetics    (2222...): 2 patients, 3 meal logs.
-- The counts differ on purpose: a leak shows up as a wrong count, not just a wrong id.

\set ON_ERROR_STOP on
BEGIN;

INSERT INTO practices (id, name) VALUES
    ('11111111-1111-1111-1111-111111111111', 'Riverside Nutrition'),
    ('22222222-2222-2222-2222-222222222222', 'Harbor Dietetics')
ON CONFLICT (id) DO NOTHING;

INSERT INTO patients (id, practice_id, name, date_of_birth) VALUES
    ('a0000000-0000-0000-0000-000000000001', '11111111-1111-1111-1111-111111111111', 'Maya Okafor',     '1984-03-12'),
    ('a0000000-0000-0000-0000-000000000002', '11111111-1111-1111-1111-111111111111', 'Daniel Reyes',    '1979-11-02'),
    ('a0000000-0000-0000-0000-000000000003', '11111111-1111-1111-1111-111111111111', 'Ingrid Larsen',   '1992-07-23'),
    ('b0000000-0000-0000-0000-000000000001', '22222222-2222-2222-2222-222222222222', 'Tomas Novak',     '1968-01-30'),
    ('b0000000-0000-0000-0000-000000000002', '22222222-2222-2222-2222-222222222222', 'Aisha Rahman',    '2001-05-17')
ON CONFLICT (id) DO NOTHING;

INSERT INTO meal_logs (id, practice_id, patient_id, logged_at, meal_data) VALUES
    ('c0000000-0000-0000-0000-000000000001', '11111111-1111-1111-1111-111111111111', 'a0000000-0000-0000-0000-000000000001',
     '2026-04-01 07:30+00', '{"meal": "breakfast", "items": ["oatmeal", "blueberries"], "kcal": 380}'),
    ('c0000000-0000-0000-0000-000000000002', '11111111-1111-1111-1111-111111111111', 'a0000000-0000-0000-0000-000000000001',
     '2026-04-01 12:45+00', '{"meal": "lunch", "items": ["lentil soup", "rye bread"], "kcal": 540}'),
    ('c0000000-0000-0000-0000-000000000003', '11111111-1111-1111-1111-111111111111', 'a0000000-0000-0000-0000-000000000002',
     '2026-04-02 19:10+00', '{"meal": "dinner", "items": ["salmon", "quinoa", "spinach"], "kcal": 690}'),
    ('c0000000-0000-0000-0000-000000000004', '11111111-1111-1111-1111-111111111111', 'a0000000-0000-0000-0000-000000000003',
     '2026-04-03 08:05+00', '{"meal": "breakfast", "items": ["greek yogurt", "walnuts"], "kcal": 310}'),
    ('c0000000-0000-0000-0000-000000000005', '11111111-1111-1111-1111-111111111111', 'a0000000-0000-0000-0000-000000000003',
     '2026-04-03 15:30+00', '{"meal": "snack", "items": ["apple", "almond butter"], "kcal": 220}'),
    ('d0000000-0000-0000-0000-000000000001', '22222222-2222-2222-2222-222222222222', 'b0000000-0000-0000-0000-000000000001',
     '2026-04-01 09:00+00', '{"meal": "breakfast", "items": ["eggs", "whole-wheat toast"], "kcal": 420}'),
    ('d0000000-0000-0000-0000-000000000002', '22222222-2222-2222-2222-222222222222', 'b0000000-0000-0000-0000-000000000002',
     '2026-04-02 13:20+00', '{"meal": "lunch", "items": ["chickpea salad"], "kcal": 480}'),
    ('d0000000-0000-0000-0000-000000000003', '22222222-2222-2222-2222-222222222222', 'b0000000-0000-0000-0000-000000000002',
     '2026-04-02 20:00+00', '{"meal": "dinner", "items": ["tofu stir-fry", "brown rice"], "kcal": 610}')
ON CONFLICT (id) DO NOTHING;

COMMIT;
